use super::*;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

fn limits(max: usize, per_address: usize) -> ConnLimits {
    ConnLimits {
        max_connections: max,
        max_per_address: Some(per_address),
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(600),
    }
}

async fn listen(limits: ConnLimits) -> (SocketAddr, Incoming) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    (addr, accept(listener, limits, "test"))
}

/// A client connection from `from` (any 127.0.0.0/8 address is this host).
async fn connect(addr: SocketAddr, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("address"))
        .expect("bind the client");
    socket.connect(addr).await.expect("connect")
}

/// Serves held connections the way a server does: reads until an error,
/// echoing nothing, and drops the connection then.
fn serve(mut incoming: Incoming) -> mpsc::Receiver<SocketAddr> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        while let Some(mut conn) = incoming.recv().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            let _ = tx.send(conn.peer()).await;
                        }
                    }
                }
            });
        }
    });
    rx
}

#[tokio::test]
async fn silent_connections_are_closed_and_the_cap_makes_one_more_wait() {
    let (addr, mut incoming) = listen(limits(2, 2)).await;
    let _a = connect(addr, "127.0.0.1").await;
    let mut client_b = connect(addr, "127.0.0.1").await;
    let mut third = connect(addr, "127.0.0.1").await;
    third.write_all(b"x").await.expect("write");
    let mut a = incoming.recv().await.expect("first");
    let mut b = incoming.recv().await.expect("second");
    // The third waits while both places are held.
    let waiting = tokio::time::timeout(Duration::from_millis(200), incoming.recv()).await;
    assert!(waiting.is_err(), "a third connection was handed out past the cap");
    assert!(full_listeners().iter().any(|(l, n)| *l == "test" && *n >= 1));

    // A silent connection fails its read after the header deadline, and its
    // place goes to the waiting one.
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let err = a.read(&mut byte).await.expect_err("silent past the deadline");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(a);
    let mut c = tokio::time::timeout(Duration::from_secs(2), incoming.recv())
        .await
        .expect("the waiting connection is handed out once a place frees")
        .expect("a connection");
    assert_eq!(c.read(&mut byte).await.expect("what it sent while waiting"), 1);

    // One that talks stays open while it keeps talking, then idles out.
    for _ in 0..3 {
        client_b.write_all(b"x").await.expect("write");
        assert_eq!(b.read(&mut byte).await.expect("read"), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let err = b.read(&mut byte).await.expect_err("idle past the idle timeout");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn an_idle_flood_from_one_address_keeps_out_nobody() {
    let (addr, incoming) = listen(ConnLimits {
        header_read_timeout: Duration::from_secs(30),
        ..limits(8, 2)
    })
    .await;
    let mut spoke = serve(incoming);
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(connect(addr, "127.0.0.2").await);
    }
    tokio::time::sleep(EVICTABLE).await;
    // Another address, and the flooding address itself: each is served
    // as soon as it speaks.
    for from in ["127.0.0.1", "127.0.0.2"] {
        let started = Instant::now();
        let mut client = connect(addr, from).await;
        client.write_all(b"hello").await.expect("write");
        let peer = tokio::time::timeout(Duration::from_secs(2), spoke.recv())
            .await
            .unwrap_or_else(|_| panic!("a client from {from} waited behind the idle flood"))
            .expect("served");
        assert_eq!(peer.ip().to_string(), from);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{from}: {:?}",
            started.elapsed()
        );
    }
    let events = listener_events()
        .into_iter()
        .find(|(l, _)| *l == "test")
        .map(|(_, e)| e);
    assert!(events.is_some_and(|e| e.evicted >= 1), "{events:?}");
}

#[tokio::test]
async fn an_address_past_its_share_and_parking_is_closed_at_once() {
    let (addr, incoming) = listen(limits(4, 1)).await;
    let _spoke = serve(incoming);
    let mut clients = Vec::new();
    // 1 held + 3 parked; the fifth, with no silent one to give up, is closed.
    for _ in 0..5 {
        let mut c = connect(addr, "127.0.0.3").await;
        c.write_all(b"x").await.expect("write");
        clients.push(c);
    }
    let mut byte = [0u8; 1];
    let last = clients.last_mut().expect("five clients");
    let closed = tokio::time::timeout(Duration::from_secs(2), last.read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the fifth connection was not closed: {closed:?}"
    );
}

/// Long enough for held silent connections to become evictable.
const EVICTABLE: Duration = Duration::from_millis(600);

//! naap's side of its Streamr sidecar (`streamr/src/sidecar.mjs`).
//!
//! Rust has no Streamr client: the node agent and the pipeline reach the
//! Streamr network through a Node process running the real `@streamr/sdk`,
//! over a Unix socket with length-prefixed [`frames`]. A [`Connection`]
//! publishes payloads (each acknowledged or refused with its reason) and
//! receives the messages of a subscribed stream with their publisher and
//! chain position.

pub mod frames;
pub mod sidecar;

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

pub use frames::{FromSidecar, MAX_PAYLOAD, MessageHeader, Ready};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Streamr sidecar's socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("the Streamr sidecar sent {0}")]
    Protocol(String),
    #[error("a payload of {bytes} bytes (at most {MAX_PAYLOAD} go in one Streamr message)")]
    TooLarge { bytes: usize },
    #[error("the Streamr sidecar gave up the connection: {0}")]
    Fatal(String),
    #[error("the Streamr sidecar closed the connection")]
    Closed,
    #[error("starting the Streamr sidecar: {0}")]
    Start(String),
}

/// One connection to a sidecar.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    buffer: frames::FrameBuffer,
    /// Where each read from the socket lands (kept: a read per message).
    chunk: Box<[u8]>,
    /// What the sidecar said when the connection opened.
    pub ready: Ready,
}

impl Connection {
    /// Connects to the sidecar listening at `socket` and reads its READY.
    pub async fn open(socket: &Path) -> Result<Self, Error> {
        let stream = UnixStream::connect(socket).await?;
        let mut connection = Connection {
            stream,
            buffer: frames::FrameBuffer::default(),
            chunk: vec![0u8; 64 * 1024].into_boxed_slice(),
            ready: Ready {
                node_id: String::new(),
                address: String::new(),
                stream: String::new(),
            },
        };
        match connection.next().await? {
            FromSidecar::Ready(ready) => connection.ready = ready,
            other => return Err(Error::Protocol(format!("{other:?} before READY"))),
        }
        Ok(connection)
    }

    /// Sends a PUBLISH (`id` names its ACK; `position` is the agent's chain
    /// position, carried to subscribers).
    pub async fn publish(&mut self, id: u64, position: u64, payload: &[u8]) -> Result<(), Error> {
        let frame = frames::publish(id, position, payload)?;
        Ok(self.stream.write_all(&frame).await?)
    }

    /// Subscribes to `stream` and waits for the answer.
    pub async fn subscribe(&mut self, stream: &str) -> Result<(), Error> {
        self.stream.write_all(&frames::subscribe(stream)).await?;
        loop {
            match self.next().await? {
                FromSidecar::Subscribed(result) => return result.map_err(Error::Protocol),
                FromSidecar::Message { .. } | FromSidecar::Ack { .. } => continue,
                other => return Err(Error::Protocol(format!("{other:?} instead of SUBSCRIBED"))),
            }
        }
    }

    /// The next frame (ACKs and MESSAGEs); FATAL and a closed socket are errors.
    pub async fn next(&mut self) -> Result<FromSidecar, Error> {
        loop {
            match self.buffer.next_frame()? {
                Some(FromSidecar::Fatal(reason)) => return Err(Error::Fatal(reason)),
                Some(frame) => return Ok(frame),
                None => {}
            }
            let n = self.stream.read(&mut self.chunk).await?;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.buffer.extend(&self.chunk[..n]);
        }
    }
}

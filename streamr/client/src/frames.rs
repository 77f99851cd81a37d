//! The sidecar's frames (`streamr/src/frames.mjs` is the other end):
//! `u32` big-endian length of the rest, one kind byte, the body.

use serde::Deserialize;

use crate::Error;

/// Largest payload one message may carry: Streamr drops messages of 1 MiB
/// and more without a word, so the sidecar refuses them first.
pub const MAX_PAYLOAD: usize = 1024 * 1024 - 64 * 1024;
/// Largest frame either side accepts (a refused PUBLISH still fits).
pub const MAX_FRAME: usize = 1024 * 1024 + 17;

const PUBLISH: u8 = 0x01;
const SUBSCRIBE: u8 = 0x02;
const READY: u8 = 0x80;
const ACK: u8 = 0x81;
const SUBSCRIBED: u8 = 0x82;
const MESSAGE: u8 = 0x83;
const FATAL: u8 = 0x84;

/// What the sidecar says when a connection opens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// Its Streamr node id (40 hex digits).
    pub node_id: String,
    /// The Ethereum address its messages are signed with.
    pub address: String,
    /// The stream it publishes to.
    pub stream: String,
}

/// Where a message came from and its place in its publisher's chain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageHeader {
    pub stream: String,
    /// The Streamr publisher (the address that signed the message).
    pub publisher: String,
    pub msg_chain_id: String,
    /// The publisher's timestamp, ms since the epoch.
    pub timestamp: i64,
    pub sequence_number: u64,
    /// The publishing agent's chain position (as text: it is a u64); none
    /// when the content is not naap's.
    #[serde(default, deserialize_with = "position")]
    pub position: Option<u64>,
}

fn position<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| t.parse().map_err(serde::de::Error::custom)).transpose()
}

/// A frame from the sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromSidecar {
    Ready(Ready),
    /// The answer to the PUBLISH with this request id: published, or why not.
    Ack {
        id: u64,
        result: Result<(), String>,
    },
    Subscribed(Result<(), String>),
    Message {
        header: MessageHeader,
        payload: Vec<u8>,
    },
    /// The sidecar gives up this connection, for this reason.
    Fatal(String),
}

fn frame(kind: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(kind);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// A PUBLISH frame; refuses a payload over [`MAX_PAYLOAD`] here, before it
/// travels.
pub fn publish(id: u64, position: u64, payload: &[u8]) -> Result<Vec<u8>, Error> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Error::TooLarge { bytes: payload.len() });
    }
    Ok(frame(PUBLISH, &[&id.to_be_bytes(), &position.to_be_bytes(), payload]))
}

/// A SUBSCRIBE frame for `stream` (its partition 0).
pub fn subscribe(stream: &str) -> Vec<u8> {
    frame(SUBSCRIBE, &[stream.as_bytes()])
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn status(body: &[u8]) -> Result<Result<(), String>, Error> {
    match body.split_first() {
        Some((0, _)) => Ok(Ok(())),
        Some((_, reason)) => Ok(Err(text(reason))),
        None => Err(Error::Protocol("a status without its byte".into())),
    }
}

/// One frame from `kind` and `body` (a whole frame's, as [`FrameBuffer`] cuts them).
pub fn parse(kind: u8, body: &[u8]) -> Result<FromSidecar, Error> {
    let bad = |what: &str| Error::Protocol(what.to_owned());
    Ok(match kind {
        READY => FromSidecar::Ready(serde_json::from_slice(body).map_err(|e| Error::Protocol(format!("READY: {e}")))?),
        ACK => {
            let (id, rest) = body
                .split_at_checked(8)
                .ok_or_else(|| bad("an ACK without its request id"))?;
            let id = u64::from_be_bytes(id.try_into().expect("8 bytes"));
            FromSidecar::Ack {
                id,
                result: status(rest)?,
            }
        }
        SUBSCRIBED => FromSidecar::Subscribed(status(body)?),
        MESSAGE => {
            let (len, rest) = body
                .split_at_checked(4)
                .ok_or_else(|| bad("a MESSAGE without its header length"))?;
            let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
            let (header, payload) = rest
                .split_at_checked(len)
                .ok_or_else(|| bad("a MESSAGE shorter than its header"))?;
            let header = serde_json::from_slice(header).map_err(|e| Error::Protocol(format!("MESSAGE header: {e}")))?;
            FromSidecar::Message {
                header,
                payload: payload.to_vec(),
            }
        }
        FATAL => FromSidecar::Fatal(text(body)),
        other => return Err(Error::Protocol(format!("unknown frame kind {other:#04x}"))),
    })
}

/// Bytes read from the sidecar, cut into whole frames.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
}

impl FrameBuffer {
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if the buffer holds one; a length of 0 or over
    /// [`MAX_FRAME`] is an error (the connection cannot be read further).
    pub fn next_frame(&mut self) -> Result<Option<FromSidecar>, Error> {
        let Some(len) = self.buf.first_chunk::<4>().map(|l| u32::from_be_bytes(*l) as usize) else {
            return Ok(None);
        };
        if len == 0 || len > MAX_FRAME {
            return Err(Error::Protocol(format!(
                "a frame of {len} bytes (from 1 to {MAX_FRAME})"
            )));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let parsed = parse(self.buf[4], &self.buf[5..4 + len]);
        self.buf.drain(..4 + len);
        parsed.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(bytes: &[u8]) -> Vec<Result<FromSidecar, String>> {
        let mut buffer = FrameBuffer::default();
        let mut out = Vec::new();
        // One byte at a time: frames split anywhere still come out whole.
        for b in bytes {
            buffer.extend(&[*b]);
            loop {
                match buffer.next_frame() {
                    Ok(Some(f)) => out.push(Ok(f)),
                    Ok(None) => break,
                    Err(e) => return [out, vec![Err(e.to_string())]].concat(),
                }
            }
        }
        out
    }

    #[test]
    fn frames_from_the_sidecar_come_out_whole_however_they_are_split() {
        let header = br#"{"stream":"0xab/naap-events","publisher":"0xcd","msgChainId":"c1","timestamp":5,"sequenceNumber":2,"position":"18446744073709551615"}"#;
        let mut bytes = frame(READY, &[br#"{"nodeId":"aa","address":"0xcd","stream":"s"}"#]);
        bytes.extend(frame(ACK, &[&7u64.to_be_bytes(), &[0]]));
        bytes.extend(frame(ACK, &[&8u64.to_be_bytes(), &[1], b"too big"]));
        bytes.extend(frame(MESSAGE, &[&(header.len() as u32).to_be_bytes(), header, b"ipc"]));
        bytes.extend(frame(FATAL, &[b"bye"]));
        let frames: Vec<_> = cut(&bytes).into_iter().map(Result::unwrap).collect();
        assert_eq!(frames.len(), 5);
        assert!(matches!(&frames[0], FromSidecar::Ready(r) if r.node_id == "aa"));
        assert_eq!(frames[1], FromSidecar::Ack { id: 7, result: Ok(()) });
        assert_eq!(
            frames[2],
            FromSidecar::Ack {
                id: 8,
                result: Err("too big".into())
            }
        );
        match &frames[3] {
            FromSidecar::Message { header, payload } => {
                assert_eq!(header.position, Some(u64::MAX));
                assert_eq!(header.sequence_number, 2);
                assert_eq!(payload, b"ipc");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(frames[4], FromSidecar::Fatal("bye".into()));
    }

    #[test]
    fn bad_frames_are_errors_never_panics_or_unbounded_buffers() {
        let oversized = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(
            cut(&oversized)
                .last()
                .unwrap()
                .as_ref()
                .unwrap_err()
                .contains("a frame of")
        );
        assert!(cut(&0u32.to_be_bytes()).last().unwrap().is_err());
        for (kind, body) in [
            (ACK, &b"1234"[..]),
            (ACK, &b"12345678"[..]),
            (MESSAGE, &b"\x00\x00\x00\x09{}"[..]),
            (MESSAGE, &b"\x00\x00"[..]),
            (READY, &b"not json"[..]),
            (0x7f, &b""[..]),
        ] {
            assert!(
                cut(&frame(kind, &[body])).last().unwrap().is_err(),
                "kind {kind:#x} body {body:?}"
            );
        }
        // Every prefix of a good stream is "not yet", never an error.
        let good = frame(FATAL, &[b"x"]);
        let mut buffer = FrameBuffer::default();
        buffer.extend(&good[..good.len() - 1]);
        assert!(buffer.next_frame().unwrap().is_none());
    }

    #[test]
    fn a_payload_over_the_limit_never_leaves() {
        assert!(publish(1, 1, &vec![0; MAX_PAYLOAD]).is_ok());
        assert!(matches!(
            publish(1, 1, &vec![0; MAX_PAYLOAD + 1]),
            Err(Error::TooLarge { .. })
        ));
        let f = publish(3, 4, b"p").unwrap();
        assert_eq!(&f[..5], &[0, 0, 0, 18, PUBLISH]);
        assert_eq!(&f[5..13], &3u64.to_be_bytes());
        assert_eq!(&f[13..21], &4u64.to_be_bytes());
    }
}

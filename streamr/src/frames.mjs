// The sidecar's wire: length-prefixed frames over a local socket.
//
//   frame = u32 BE length of the rest | u8 kind | body
//
// agent/pipeline -> sidecar
//   PUBLISH   0x01  u64 request id | u64 chain position | payload
//   SUBSCRIBE 0x02  stream id (UTF-8)
// sidecar -> agent/pipeline
//   READY     0x80  JSON { nodeId, address, stream }
//   ACK       0x81  u64 request id | u8 0 = published, 1 = refused | reason (UTF-8)
//   SUBSCRIBED 0x82 u8 0 = subscribed, 1 = refused | reason (UTF-8)
//   MESSAGE   0x83  u32 header length | JSON header | payload
//             header: { stream, publisher, msgChainId, timestamp, sequenceNumber, position }
//   FATAL     0x84  reason (UTF-8); the sidecar closes the connection
//
// `position` is the publishing agent's own chain position (one more per
// batch it sends, kept across restarts by its spool): Streamr's
// (timestamp, sequenceNumber) pair does not show a skipped message on its
// own, this number does.
export const KIND = { PUBLISH: 0x01, SUBSCRIBE: 0x02, READY: 0x80, ACK: 0x81, SUBSCRIBED: 0x82, MESSAGE: 0x83, FATAL: 0x84 };

/** Largest payload a message may carry: Streamr drops messages of 1 MiB and more without a word. */
export const MAX_PAYLOAD = 1024 * 1024 - 64 * 1024;
/** Largest frame accepted: bigger PUBLISH payloads than MAX_PAYLOAD still get their refusal. */
export const MAX_FRAME = 1024 * 1024 + 17;
const POSITION_BYTES = 8;

export function frame(kind, ...parts) {
  const body = Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head.writeUInt8(kind, 4);
  return Buffer.concat([head, body]);
}

export function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Content of a Streamr message: the chain position, then the payload. */
export function content(position, payload) {
  return Buffer.concat([u64(position), payload]);
}

/** (position, payload) of a message's content, or undefined if it is not naap's. */
export function parseContent(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length < POSITION_BYTES) return undefined;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return { position: b.readBigUInt64BE(0), payload: b.subarray(POSITION_BYTES) };
}

/**
 * Splits a byte stream into frames: feed it chunks, it calls onFrame(kind,
 * body) per whole frame and onError(reason) once for a frame longer than
 * MAX_FRAME or empty (the connection is then unusable).
 */
export class FrameReader {
  constructor(onFrame, onError) {
    this.chunks = [];
    this.buffered = 0;
    this.onFrame = onFrame;
    this.onError = onError;
    this.failed = false;
  }

  push(chunk) {
    if (this.failed) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [all];
      const length = all.readUInt32BE(0);
      if (length === 0 || length > MAX_FRAME) {
        this.failed = true;
        this.onError(`a frame of ${length} bytes (from 1 to ${MAX_FRAME})`);
        return;
      }
      if (all.length < 4 + length) return;
      const kind = all.readUInt8(4);
      const body = all.subarray(5, 4 + length);
      const rest = all.subarray(4 + length);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      this.onFrame(kind, body);
    }
  }
}

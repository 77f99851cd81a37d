// naap's Streamr sidecar: one @streamr/sdk node, driven by naap's agent or
// pipeline over a local socket with the frames of frames.mjs.
//
//   node src/sidecar.mjs --socket PATH --network FILE [--stream ID]
//                        [--ws-host HOST] [--ws-port PORT] [--loopback-only]
//
// PATH: the Unix socket it listens on (one connection at a time; the agent
// that starts it connects). FILE: the network as JSON (`contracts`,
// `entryPoints`, and `stream`, as src/env.mjs prints them). The node's key
// comes from NAAP_STREAMR_KEY (hex; a fresh key when unset: Streamr
// signatures then name a throwaway address, which is fine because naap
// trusts the operator signature inside each batch, not the Streamr one).
import { chmodSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";

import { installLoopbackGuard } from "./guard.mjs";
import { freePort } from "./ports.mjs";
import { FrameReader, KIND, MAX_PAYLOAD, content, frame, parseContent, u64 } from "./frames.mjs";

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
}
const loopbackOnly = process.argv.includes("--loopback-only");
if (loopbackOnly) installLoopbackGuard();
const { ethers } = await import("ethers");
const { StreamrClient } = await import("@streamr/sdk");
const { clientConfig, peerDescriptor } = await import("./config.mjs");

/** Bytes of MESSAGE frames a slow reader may leave unread before the sidecar lets it go. */
const MAX_UNREAD = 64 * 1024 * 1024;

const socketPath = option("socket");
const networkFile = option("network");
if (!socketPath || !networkFile) {
  process.stderr.write("usage: sidecar.mjs --socket PATH --network FILE [--stream ID] [--ws-host HOST] [--ws-port PORT] [--loopback-only]\n");
  process.exit(2);
}
const network = JSON.parse(readFileSync(networkFile, "utf8"));
const streamId = option("stream", network.stream);
const key = process.env.NAAP_STREAMR_KEY || ethers.Wallet.createRandom().privateKey;
const descriptor = peerDescriptor(option("ws-host", "127.0.0.1"), Number(option("ws-port", 0)) || (await freePort()));
const client = new StreamrClient(clientConfig(network, key, descriptor));
await client.connect();
const address = await client.getUserId();

// Publishing starts once the node has joined the stream's partition and met
// a neighbour (or waited 10 s for one): messages published before then
// would wait in the propagation buffer or, past it, be dropped.
const joined = client
  .getNode()
  .join(`${streamId}#0`, { minCount: 1, timeout: 10_000 })
  .catch((error) => process.stderr.write(`streamr sidecar: no neighbour in ${streamId} yet (${error.message}); publishing anyway\n`));

let current;
const server = net.createServer((socket) => {
  if (current) {
    socket.end(frame(KIND.FATAL, "the sidecar serves one connection at a time"));
    return;
  }
  current = socket;
  const subscriptions = [];
  const send = (bytes) => {
    if (socket.writableLength > MAX_UNREAD) {
      socket.end(frame(KIND.FATAL, `more than ${MAX_UNREAD} bytes unread: the reader is too slow`));
      return;
    }
    socket.write(bytes);
  };
  const reader = new FrameReader(
    (kind, body) => {
      if (kind === KIND.PUBLISH) publish(body, send);
      else if (kind === KIND.SUBSCRIBE) subscribe(body.toString("utf8"), send, subscriptions);
      else socket.end(frame(KIND.FATAL, `unknown frame kind ${kind}`));
    },
    (reason) => socket.end(frame(KIND.FATAL, reason)),
  );
  socket.on("data", (chunk) => reader.push(chunk));
  socket.on("error", () => {});
  socket.on("close", () => {
    current = undefined;
    for (const s of subscriptions) s.unsubscribe().catch(() => {});
  });
  send(frame(KIND.READY, JSON.stringify({ nodeId: descriptor.nodeId, address, stream: streamId })));
});

async function publish(body, send) {
  if (body.length < 16) {
    send(frame(KIND.FATAL, "a PUBLISH frame without its request id and position"));
    return;
  }
  const id = body.readBigUInt64BE(0);
  const position = body.readBigUInt64BE(8);
  const payload = body.subarray(16);
  if (payload.length > MAX_PAYLOAD) {
    send(frame(KIND.ACK, u64(id), [1], `a payload of ${payload.length} bytes (at most ${MAX_PAYLOAD})`));
    return;
  }
  try {
    await joined;
    await client.publish({ id: streamId, partition: 0 }, content(position, payload));
    send(frame(KIND.ACK, u64(id), [0]));
  } catch (error) {
    send(frame(KIND.ACK, u64(id), [1], String(error?.message ?? error)));
  }
}

/** The bytes of a message that is not naap's: binary as it is, JSON as its text. */
function foreign(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  return Buffer.from(JSON.stringify(bytes ?? null) ?? "null", "utf8");
}

async function subscribe(id, send, subscriptions) {
  try {
    const subscription = await client.subscribe({ id, partition: 0 }, (bytes, meta) => {
      const parsed = parseContent(bytes);
      const header = JSON.stringify({
        stream: meta.streamId,
        publisher: meta.publisherId,
        msgChainId: meta.msgChainId,
        timestamp: meta.timestamp,
        sequenceNumber: meta.sequenceNumber,
        // Not naap's content (no position): the pipeline quarantines it.
        position: parsed ? parsed.position.toString() : null,
      });
      const head = Buffer.alloc(4);
      head.writeUInt32BE(Buffer.byteLength(header));
      send(frame(KIND.MESSAGE, head, header, parsed ? parsed.payload : foreign(bytes)));
    });
    subscriptions.push(subscription);
    send(frame(KIND.SUBSCRIBED, [0]));
  } catch (error) {
    send(frame(KIND.SUBSCRIBED, [1], String(error?.message ?? error)));
  }
}

rmSync(socketPath, { force: true });
server.listen(socketPath, () => {
  // Only this user may drive the node (publish under its key, read its stream).
  chmodSync(socketPath, 0o600);
  process.stderr.write(`streamr sidecar: node ${descriptor.nodeId} (${address}) on ${socketPath}\n`);
});
const stop = async () => {
  server.close();
  await client.destroy().catch(() => {});
  rmSync(socketPath, { force: true });
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

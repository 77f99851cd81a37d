// End to end on loopback with the real SDK: the offline environment, two
// sidecars (a publisher and a subscriber, each its own process and node),
// framed publishes and the messages they become, refusals, and the guard.
//
//   node test/smoke.mjs [MESSAGES]     (exit 0 when every check held)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { FrameReader, KIND, MAX_FRAME, MAX_PAYLOAD, frame, u64 } from "../src/frames.mjs";
import { installLoopbackGuard } from "../src/guard.mjs";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "..");
const MESSAGES = Number(process.argv[2] || 500);
const work = mkdtempSync(join(tmpdir(), "naap-streamr-"));
const children = [];
const until = async (what, check, seconds = 60) => {
  for (let i = 0; i < seconds * 20; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`waited ${seconds} s for ${what}`);
};
const start = (args, name) => {
  const child = spawn(process.execPath, args, { cwd: HERE, stdio: ["ignore", "ignore", "pipe"] });
  child.stderrText = "";
  child.stderr.on("data", (d) => { child.stderrText += d; });
  child.name = name;
  children.push(child);
  return child;
};
const stopAll = () => children.forEach((c) => c.exitCode === null && c.kill("SIGTERM"));
process.on("exit", () => { stopAll(); rmSync(work, { recursive: true, force: true }); });

function connect(path) {
  const socket = net.connect(path);
  const frames = [];
  socket.reader = new FrameReader((kind, body) => frames.push({ kind, body, at: process.hrtime.bigint() }), (r) => frames.push({ kind: -1, body: Buffer.from(r) }));
  socket.on("data", (c) => socket.reader.push(c));
  socket.frames = frames;
  return new Promise((resolve, reject) => { socket.on("connect", () => resolve(socket)); socket.on("error", reject); });
}

const networkFile = join(work, "network.json");
const env = start(["src/env.mjs", "--out", networkFile], "environment");
await until("the environment", () => existsSync(networkFile) || env.exitCode !== null, 120);
assert.equal(env.exitCode, null, env.stderrText);
const network = JSON.parse(readFileSync(networkFile, "utf8"));
console.log(`environment up in ${network.ms.total} ms (chain ${network.ms.chain}, contracts ${network.ms.deploy}); stream ${network.stream}`);

const sidecar = (name) => {
  const socket = join(work, `${name}.sock`);
  const child = start(["src/sidecar.mjs", "--socket", socket, "--network", networkFile, "--loopback-only"], name);
  return { socket, child };
};
const pub = sidecar("publisher");
const sub = sidecar("subscriber");
await until("the sidecars' sockets", () => existsSync(pub.socket) && existsSync(sub.socket), 60);
assert.equal(statSync(pub.socket).mode & 0o777, 0o600, "only the sidecar's user may use its socket");
const [publisher, subscriber] = await Promise.all([connect(pub.socket), connect(sub.socket)]);
await until("READY frames", () => publisher.frames.length && subscriber.frames.length);
const ready = JSON.parse(publisher.frames.shift().body);
assert.equal(ready.stream, network.stream);
subscriber.frames.shift();

subscriber.write(frame(KIND.SUBSCRIBE, network.stream));
await until("SUBSCRIBED", () => subscriber.frames.length > 0);
assert.equal(subscriber.frames.shift().body[0], 0, "subscribed");
await new Promise((resolve) => setTimeout(resolve, 1500)); // the two nodes find each other

// Publishes, 10 KB each, then the messages they became.
const payload = (i) => Buffer.alloc(10_000, i % 251);
const sent = new Map();
const t0 = Date.now();
for (let i = 0; i < MESSAGES; i++) {
  sent.set(i, process.hrtime.bigint());
  publisher.write(frame(KIND.PUBLISH, u64(i), u64(1000 + i), payload(i)));
}
await until("every ACK", () => publisher.frames.length >= MESSAGES, 60);
const refusedAck = publisher.frames.find((f) => f.kind !== KIND.ACK || f.body[8] !== 0);
assert.equal(refusedAck, undefined, refusedAck && refusedAck.body.subarray(9).toString());
await until(`${MESSAGES} messages`, () => subscriber.frames.length >= MESSAGES, 20).catch((e) => { throw new Error(`${e.message}: ${subscriber.frames.length} arrived`); });
const seconds = (Date.now() - t0) / 1000;
const latencies = [];
subscriber.frames.forEach((f, i) => {
  assert.equal(f.kind, KIND.MESSAGE);
  const headerLength = f.body.readUInt32BE(0);
  const header = JSON.parse(f.body.subarray(4, 4 + headerLength));
  const body = f.body.subarray(4 + headerLength);
  const n = Number(header.position) - 1000;
  assert.equal(header.publisher, ready.address);
  assert.ok(body.equals(payload(n)), `payload of message ${n}`);
  latencies.push(Number(f.at - sent.get(n)) / 1e6);
  assert.ok(i >= 0);
});
latencies.sort((a, b) => a - b);
await until("every ACK", () => publisher.frames.length >= MESSAGES);
assert.ok(publisher.frames.every((f) => f.kind === KIND.ACK && f.body[8] === 0), "every publish acknowledged");
console.log(`${MESSAGES} messages of 10 KB in ${seconds.toFixed(2)} s (${(MESSAGES / seconds).toFixed(0)}/s); ` +
  `latency p50 ${latencies[Math.floor(latencies.length / 2)].toFixed(1)} ms, p99 ${latencies[Math.floor(latencies.length * 0.99)].toFixed(1)} ms`);

// Anyone may publish to the public stream: a JSON message that is not
// naap's arrives as a MESSAGE without a position (the pipeline's to
// quarantine), and the sidecar goes on.
subscriber.frames.length = 0;
const { StreamrClient } = await import("@streamr/sdk");
const { clientConfig, peerDescriptor } = await import("../src/config.mjs");
const { freePort } = await import("../src/ports.mjs");
const { ethers } = await import("ethers");
const stranger = new StreamrClient(clientConfig(network, ethers.Wallet.createRandom().privateKey,
  peerDescriptor("127.0.0.1", await freePort())));
await stranger.publish(network.stream, { not: "naap" });
await until("the stranger's message", () => subscriber.frames.length > 0, 30);
const strangers = subscriber.frames[0];
assert.equal(strangers.kind, KIND.MESSAGE);
const strangerHeader = JSON.parse(strangers.body.subarray(4, 4 + strangers.body.readUInt32BE(0)));
assert.equal(strangerHeader.position, null);
assert.equal(strangers.body.subarray(4 + strangers.body.readUInt32BE(0)).toString(), '{"not":"naap"}');
await stranger.destroy();

// A payload over the limit is refused with its reason, not sent.
publisher.frames.length = 0;
publisher.write(frame(KIND.PUBLISH, u64(99999), u64(1), Buffer.alloc(MAX_PAYLOAD + 1)));
await until("the refusal", () => publisher.frames.length > 0);
assert.equal(publisher.frames[0].kind, KIND.ACK);
assert.equal(publisher.frames[0].body[8], 1);
assert.match(publisher.frames[0].body.subarray(9).toString(), /at most/);

// A frame longer than the limit ends the connection with its reason.
const head = Buffer.alloc(5);
head.writeUInt32BE(MAX_FRAME + 1);
publisher.write(head);
await until("FATAL", () => publisher.frames.some((f) => f.kind === KIND.FATAL));

// The guard refuses anything beyond loopback.
const refused = installLoopbackGuard();
const outside = net.connect({ host: "192.0.2.1", port: 443 });
const error = await new Promise((resolve) => outside.on("error", resolve));
assert.match(error.message, /loopback guard refused/);
assert.deepEqual(refused, ["192.0.2.1:443"]);

for (const c of children) assert.equal(c.exitCode, null, `${c.name} exited: ${c.stderrText}`);
console.log("streamr smoke: every check held");
stopAll();
process.exit(0);

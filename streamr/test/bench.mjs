// Throughput and delivery latency through Streamr with naap's sidecars on
// the offline network: one publishing sidecar, one subscribing, each its own
// process and node, paced publishes of a fixed size; prints what arrived,
// p50/p99 from the PUBLISH frame written to the MESSAGE frame read, and each
// sidecar's resident memory and CPU over the run.
//
//   node test/bench.mjs RATE SECONDS BYTES     (RATE 0: as fast as acknowledged)
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { FrameReader, KIND, frame, u64 } from "../src/frames.mjs";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "..");
const [RATE, SECONDS, BYTES] = [Number(process.argv[2] ?? 40), Number(process.argv[3] ?? 20), Number(process.argv[4] ?? 5000)];
const work = mkdtempSync(join(tmpdir(), "naap-streamr-bench-"));
const children = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (what, check, seconds = 60) => {
  for (let i = 0; i < seconds * 20; i++) {
    if (check()) return;
    await sleep(50);
  }
  throw new Error(`waited ${seconds} s for ${what}`);
};
const start = (args) => {
  const child = spawn(process.execPath, args, { cwd: HERE, stdio: ["ignore", "ignore", "ignore"] });
  children.push(child);
  return child;
};
process.on("exit", () => {
  children.forEach((c) => c.exitCode === null && c.kill("SIGTERM"));
  rmSync(work, { recursive: true, force: true });
});

/** Resident memory (MiB) and CPU seconds so far of process `pid`. */
function usage(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { rss, cpu: (Number(stat[11]) + Number(stat[12])) / 100 };
}

function connect(path) {
  const socket = net.connect(path);
  socket.frames = [];
  socket.reader = new FrameReader((kind, body) => socket.frames.push({ kind, body, at: process.hrtime.bigint() }), () => {});
  socket.on("data", (c) => socket.reader.push(c));
  return new Promise((resolve, reject) => { socket.on("connect", () => resolve(socket)); socket.on("error", reject); });
}

const networkFile = join(work, "network.json");
start(["src/env.mjs", "--out", networkFile]);
await until("the environment", () => existsSync(networkFile), 120);
const sidecars = ["publisher", "subscriber"].map((name) => {
  const socket = join(work, `${name}.sock`);
  return { socket, child: start(["src/sidecar.mjs", "--socket", socket, "--network", networkFile, "--loopback-only"]) };
});
await until("the sidecars", () => sidecars.every((s) => existsSync(s.socket)), 60);
const [publisher, subscriber] = await Promise.all(sidecars.map((s) => connect(s.socket)));
await until("READY", () => publisher.frames.length && subscriber.frames.length);
publisher.frames.length = 0;
subscriber.frames.length = 0;
subscriber.write(frame(KIND.SUBSCRIBE, JSON.parse(readFileSync(networkFile, "utf8")).stream));
await until("SUBSCRIBED", () => subscriber.frames.length > 0);
subscriber.frames.length = 0;
await sleep(1500); // the two nodes find each other

const before = sidecars.map((s) => usage(s.child.pid));
const sent = [];
const payload = Buffer.alloc(BYTES, 7);
const t0 = Date.now();
let i = 0;
while (Date.now() - t0 < SECONDS * 1000) {
  if (RATE > 0) {
    const due = t0 + (i * 1000) / RATE;
    if (due > Date.now()) await sleep(due - Date.now());
  } else if (i - publisher.frames.length > 200) {
    await sleep(1); // as fast as acknowledged, 200 in flight
    continue;
  }
  sent.push(process.hrtime.bigint());
  publisher.write(frame(KIND.PUBLISH, u64(i), u64(i), payload));
  i++;
}
await until("the last messages", () => subscriber.frames.length >= i, 30).catch(() => {});
const seconds = (Date.now() - t0) / 1000;
const after = sidecars.map((s) => usage(s.child.pid));
const latencies = subscriber.frames
  .filter((f) => f.kind === KIND.MESSAGE)
  .map((f) => {
    const headerLength = f.body.readUInt32BE(0);
    const position = Number(JSON.parse(f.body.subarray(4, 4 + headerLength)).position);
    return Number(f.at - sent[position]) / 1e6;
  })
  .sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))].toFixed(1);
const side = (k) => `${after[k].rss.toFixed(0)} MiB, ${(((after[k].cpu - before[k].cpu) / seconds) * 100).toFixed(0)} % of a core`;
console.log(JSON.stringify({
  rate: RATE || "max", bytes: BYTES, published: i, arrived: latencies.length,
  per_second: Number((latencies.length / seconds).toFixed(0)), p50_ms: Number(q(0.5)), p99_ms: Number(q(0.99)),
  publisher_sidecar: side(0), subscriber_sidecar: side(1),
}));
process.exit(0);

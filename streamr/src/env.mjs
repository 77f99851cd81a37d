// naap's offline Streamr environment, from registry packages only:
//
//   node src/env.mjs [--out FILE] [--test-streams N]
//
// 1. a local EVM chain (hardhat node, chainId 31337) on a free loopback port;
// 2. Streamr's own StreamRegistryV5, NodeRegistry and StreamStorageRegistryV2,
//    deployed from the bytecode in @streamr/network-contracts 8.2.0 and
//    initialised by the chain's first test account;
// 3. an entry point: an SDK node with a WebSocket server on a free port;
// 4. the stream `<deployer>/naap-events`, created through the SDK (on-chain
//    transactions), with PUBLISH and SUBSCRIBE granted to everyone: any
//    orchestrator's agent may publish without a grant, and naap accepts only
//    batches whose operator signature it verifies.
//
// With --test-streams N, also `<deployer>/naap-test-1` … `naap-test-N`, the
// same way: one per test that runs at the same time as others (./test.sh
// starts one environment for all of them).
//
// Prints one JSON line (and writes it to FILE): `{ rpc, contracts,
// entryPoints, stream, testStreams, ms }`, which sidecars take as their network. Runs until
// SIGTERM or SIGINT, then stops the entry point and the chain. The loopback
// guard is on: nothing here reaches beyond 127.0.0.1.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { installLoopbackGuard } from "./guard.mjs";
import { freePort } from "./ports.mjs";

installLoopbackGuard();
const { ethers } = await import("ethers");
const { StreamrClient, StreamPermission } = await import("@streamr/sdk");
const { clientConfig, peerDescriptor } = await import("./config.mjs");

const HERE = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const artifact = (name) =>
  require(`@streamr/network-contracts/dist/artifacts/contracts/${name}.sol/${name.split("/").pop()}.json`);
// The chain's first test account (hardhat's well-known development key).
const DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
export const STREAM_PATH = "/naap-events";

async function waitForChain(rpc, chain) {
  for (let i = 0; i < 300; i++) {
    if (chain.exitCode !== null) throw new Error(`the local chain exited with ${chain.exitCode}`);
    try {
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] });
      const answer = await fetch(rpc, { method: "POST", headers: { "content-type": "application/json" }, body });
      if (answer.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the local chain did not answer at ${rpc} within 30 s`);
}

async function deploy(deployer, name, ...init) {
  const { abi, bytecode } = artifact(name);
  const contract = await new ethers.ContractFactory(abi, bytecode, deployer).deploy();
  await contract.waitForDeployment();
  await (await contract.initialize(...init)).wait();
  return contract;
}

async function main() {
  const out = process.argv.indexOf("--out") > 0 ? process.argv[process.argv.indexOf("--out") + 1] : undefined;
  const started = Date.now();
  const chainPort = await freePort();
  const chain = spawn(join(HERE, "node_modules", ".bin", "hardhat"),
    ["node", "--hostname", "127.0.0.1", "--port", String(chainPort)], { cwd: HERE, stdio: "ignore" });
  const stopChain = () => chain.exitCode === null && chain.kill("SIGTERM");
  process.on("exit", stopChain);
  const rpc = `http://127.0.0.1:${chainPort}`;
  await waitForChain(rpc, chain);
  const chainMs = Date.now() - started;

  const provider = new ethers.JsonRpcProvider(rpc, undefined, { staticNetwork: true });
  const deployer = new ethers.NonceManager(new ethers.Wallet(DEPLOYER_KEY, provider));
  const owner = await deployer.getAddress();
  const streams = await deploy(deployer, "StreamRegistry/StreamRegistryV5", ethers.ZeroAddress, ethers.ZeroAddress);
  const nodes = await deploy(deployer, "NodeRegistry/NodeRegistry", owner, false, [], []);
  const storage = await deploy(deployer, "StreamStorageRegistry/StreamStorageRegistryV2",
    await streams.getAddress(), await nodes.getAddress(), ethers.ZeroAddress);
  const deployMs = Date.now() - started - chainMs;

  const entry = peerDescriptor("127.0.0.1", await freePort());
  const network = {
    rpc,
    contracts: {
      streamRegistryChainAddress: await streams.getAddress(),
      streamStorageRegistryChainAddress: await storage.getAddress(),
      storageNodeRegistryChainAddress: await nodes.getAddress(),
      ethereumNetwork: { chainId: 31337 },
      rpcs: [{ url: rpc }],
      rpcQuorum: 1,
      // The Graph serves search, listings, storage nodes and resends, none
      // of which naap uses: a closed port makes any use fail at once.
      theGraphUrl: `http://127.0.0.1:${await freePort()}/subgraphs/name/streamr-dev/network-subgraphs`,
    },
    entryPoints: [entry],
  };
  const entryClient = new StreamrClient(clientConfig(network, ethers.Wallet.createRandom().privateKey, entry));
  await entryClient.connect();
  const creator = new StreamrClient(clientConfig(network, DEPLOYER_KEY, peerDescriptor("127.0.0.1", await freePort())));
  const publicStream = async (path) => {
    const created = await creator.createStream(path);
    await created.grantPermissions({ public: true, permissions: [StreamPermission.PUBLISH, StreamPermission.SUBSCRIBE] });
    return created.id;
  };
  const stream = await publicStream(STREAM_PATH);
  const testStreams = [];
  const wanted = Number(process.argv.indexOf("--test-streams") > 0 ? process.argv[process.argv.indexOf("--test-streams") + 1] : 0);
  for (let i = 1; i <= wanted; i++) testStreams.push(await publicStream(`/naap-test-${i}`));
  await creator.destroy();

  const ready = { ...network, stream, testStreams, ms: { chain: chainMs, deploy: deployMs, total: Date.now() - started } };
  const line = JSON.stringify(ready);
  if (out) writeFileSync(out, line + "\n");
  process.stdout.write(line + "\n");

  const stop = async () => {
    await entryClient.destroy().catch(() => {});
    stopChain();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  process.stderr.write(`streamr environment: ${error.stack || error}\n`);
  process.exit(1);
});

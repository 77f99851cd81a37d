// The @streamr/sdk configuration of every naap Streamr node: the network's
// contracts and RPC (a local chain in tests), fixed entry points, a
// WebSocket server of its own on a fixed port with a fixed peer
// descriptor (no WebRTC, no region lookup on public CDNs), no TLS, no
// entry-point discovery, no metrics stream, and no gap filling (which needs
// storage nodes and would otherwise wait for them forever; gaps are counted
// by the subscriber instead).
import { randomBytes } from "node:crypto";

/** Messages a node keeps for neighbours it is still connecting to. */
export const PROPAGATION_BUFFER = 10000;

/** A node's peer descriptor: a random 20-byte node id and its WebSocket server. */
export function peerDescriptor(host, port) {
  return { nodeId: randomBytes(20).toString("hex"), websocket: { host, port, tls: false } };
}

/**
 * @param {object} network  `{ contracts, entryPoints }` as the environment prints them
 * @param {string} privateKey  the node's Ethereum key (hex)
 * @param {object} descriptor  its peer descriptor (see peerDescriptor)
 */
export function clientConfig(network, privateKey, descriptor) {
  return {
    environment: "dev2",
    auth: { privateKey },
    contracts: network.contracts,
    network: {
      controlLayer: {
        entryPoints: network.entryPoints,
        entryPointDiscovery: { enabled: false },
        websocketPortRange: { min: descriptor.websocket.port, max: descriptor.websocket.port },
        websocketHost: descriptor.websocket.host,
        websocketServerEnableTls: false,
        iceServers: [],
        peerDescriptor: descriptor,
      },
      // A burst published while the node still looks for its neighbours
      // waits here rather than being dropped past the default 150 messages.
      node: { streamPartitionMaxPropagationBufferSize: PROPAGATION_BUFFER },
    },
    metrics: false,
    gapFill: false,
    orderMessages: false,
  };
}

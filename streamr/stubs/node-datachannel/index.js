// naap's stand-in for node-datachannel (its install downloads a prebuilt
// binary, which fails offline). Streamr nodes then connect over WebSocket
// only: each naap sidecar runs a WebSocket server, so no connection needs
// WebRTC. A connection that does is refused with this error, never hangs.
export function initLogger() {}
export function cleanup() {}
export class PeerConnection {
  constructor() {
    throw new Error("WebRTC is not available (naap's node-datachannel stand-in): " +
      "every Streamr node of naap needs a WebSocket server");
  }
}
export class DataChannel {}
export const DescriptionType = {};
export default { initLogger, cleanup, PeerConnection, DataChannel, DescriptionType };

// The loopback guard: with it on, this process refuses every outgoing TCP
// connection to a host that is not 127.0.0.1, ::1 or localhost, so a test
// (or an operator's private deployment) cannot reach a public Streamr
// service, RPC or CDN by accident. Installed before the SDK is imported.
import net from "node:net";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"]);

export function isLoopback(host) {
  return host === undefined || LOOPBACK.has(String(host).replace(/^\[|\]$/g, ""));
}

/** Refuses non-loopback connections from here on; returns what it refused. */
export function installLoopbackGuard() {
  const refused = [];
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guarded(...args) {
    // net.connect() passes its normalised arguments as one array.
    const first = Array.isArray(args[0]) ? args[0][0] : args[0];
    const options = typeof first === "object" && first !== null ? first : { port: first, host: args[1] };
    if (options.path === undefined && !isLoopback(options.host)) {
      refused.push(`${options.host}:${options.port}`);
      const error = new Error(`naap's loopback guard refused a connection to ${options.host}:${options.port}`);
      process.nextTick(() => this.destroy(error));
      return this;
    }
    return connect.apply(this, args);
  };
  return refused;
}

/**
 * A live status page of the tunnels a TunnelServiceHandler (or a
 * ReverseTunnelServer) holds, as a `node:http` request listener: an admin
 * endpoint, served only where it is mounted
 * ("@protoc-gen-tunnel/runtime/status").
 *
 * @module @protoc-gen-tunnel/runtime/status
 */
export { tunnelStatusPage, type StatusPageOptions, type TunnelStatusPage } from "./status/status-page.js";
export type { SnapshotOptions } from "./status/formatters.js";
export type { StatusSnapshot, TunnelStatus } from "./status/snapshot.js";
export type { TunnelSource } from "./status/tunnel-index.js";

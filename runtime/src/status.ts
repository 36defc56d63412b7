// "@protoc-gen-tunnel/runtime/status": a live status page of the tunnels a
// TunnelServiceHandler (or ReverseTunnelServer) holds, for node:http.
export { tunnelStatusPage, type StatusPageOptions, type TunnelStatusPage } from "./status/status-page.js";
export type { SnapshotOptions, StatusSnapshot, TunnelSource, TunnelStatus } from "./status/snapshot.js";

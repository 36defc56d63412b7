/**
 * The generated wire schema (grpctunnel.v1 frames and google.rpc.Status),
 * for tools that read or write raw frames: recorders, proxies, tests. Like
 * the Go library's tunnelpb package. Import it as
 * "@protoc-gen-tunnel/runtime/tunnelpb".
 *
 * @module @protoc-gen-tunnel/runtime/tunnelpb
 */
export * from "./gen/grpctunnel/v1/tunnel_pb.js";
export * from "./gen/google/rpc/status_pb.js";

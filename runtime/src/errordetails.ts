/**
 * The standard google.rpc error details (ErrorInfo, BadRequest, RetryInfo,
 * ...) for the `details` of a status: pack them with `anyPack` when ending a
 * call with a TunnelError, read them with `TunnelError.findDetails` (or
 * Connect's `ConnectError.findDetails`). Import them from
 * "@protoc-gen-tunnel/runtime/errordetails".
 *
 * @module @protoc-gen-tunnel/runtime/errordetails
 */
export * from "./gen/google/rpc/error_details_pb.js";

/**
 * Public API of @protoc-gen-tunnel/runtime. Everything else is internal.
 *
 * @module @protoc-gen-tunnel/runtime
 */
export { Code, codeName } from "./code.js";
export { TunnelError, type TunnelErrorOptions } from "./errors.js";
export type { CallEnd, TunnelEnd } from "./ended.js";
export { toMetadata, type MetadataInit, type MetadataValue } from "./metadata.js";
export type { TunnelLimits } from "./engine/limits.js";
export { processMemoryUsage, setProcessMemoryLimit, type ProcessMemoryUsage } from "./engine/memory-budget.js";
export type { UndecodableFrame } from "./engine/frame-conn.js";

// Making calls: one primitive (CallChannel.startCall → CallStream, in bytes)
// and the typed calls written once on top of it.
export type { CallChannel } from "./api/client/index.js";
export type { CallStream } from "./api/client/index.js";
export type { CallOptions } from "./api/client/index.js";
export { bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "./api/client/index.js";
export { createTunnelClient, type TunnelClient, type TunnelClientMethod } from "./api/client/index.js";
export { methodPath } from "./api/client/index.js";
// Client options (interceptors, default call options, retries) and push-style bidi calls.
export { clientChannel, mergeCallOptions, type ClientInterceptor, type TunnelClientOptions } from "./api/client/index.js";
export type { HedgingPolicy, RetryBudget, RetryPolicy } from "./api/retry/index.js";
export { openBidiStream, openRawBidiStream, type BidiStream } from "./api/client/index.js";
// Fan-out: one call per agent, bounded.
export { forEachAgent, pagedKeys, type AgentResult, type AgentSelection, type FanOutHandler } from "./api/fanout/index.js";
export type { AgentKeySource, ForEachAgentOptions, KeyFilter, KeyPage, KeyPageRequest } from "./api/fanout/index.js";

// Serving calls.
export type { HandlerContext } from "./api/serve/index.js";
export type {
  BidiStreamingImpl,
  ClientStreamingImpl,
  MethodImpl,
  ServerStreamingImpl,
  ServiceImpl,
  ServiceRegistrar,
  UnaryImpl,
} from "./api/serve/index.js";

// Tunnels.
export type { TunnelChannel } from "./api/tunnels/index.js";
export { openTunnel, type OpenTunnelOptions } from "./api/tunnels/index.js";
export type { ServiceHost } from "./api/serve/index.js";
export { TunnelServiceHandler, type DrainOptions, type TunnelServiceHandlerOptions } from "./api/tunnels/index.js";
export type { ReverseTunnelConflictPolicy } from "./api/reverse/index.js";
export type { ReplayBufferLimits } from "./api/retry/index.js";
export {
  TunnelServiceClient,
  tunnelServiceDefinition,
  type TunnelMethodDefinition,
  type TunnelServiceDefinition,
} from "./transport/tunnel-service.js";
export { TUNNEL_CLIENT_KEEPALIVE, tunnelServerOptions } from "./transport/keepalive.js";
export { NEGOTIATE_HEADER, NEGOTIATE_VALUE } from "./protocol/constants.js";
export type { ReverseChannel, ReverseChannels } from "./api/reverse/index.js";
export type { ReverseTunnelRegistry, TunnelSelector } from "./api/reverse/index.js";
export type { ReplicaCluster } from "./api/tunnels/index.js";
export type { AuthContext } from "./engine/auth-context.js";
export {
  NOT_STARTED_WARNING,
  ReverseTunnelServer,
  type ReverseTunnel,
  type ReverseTunnelServerOptions,
  type ServeOptions,
  type ServeResult,
} from "./api/reverse/index.js";
export type { ReconnectOptions, RetryPlan } from "./api/reverse/index.js";

// Interceptors for typed clients (withInterceptors) and typed handlers (the `interceptors` option).
export { withInterceptors } from "./api/interceptors/index.js";
export type {
  CallFn,
  CallInterceptor,
  CallRequest,
  CallResponse,
  HandlerFn,
  HandlerInterceptor,
  HandlerRequest,
  HandlerResponse,
  MethodOf,
  StreamCallRequest,
  StreamCallResponse,
  StreamHandlerRequest,
  StreamHandlerResponse,
  UnaryCallRequest,
  UnaryCallResponse,
  UnaryHandlerRequest,
  UnaryHandlerResponse,
} from "./api/interceptors/index.js";

// Observability: diagnostics channels (see also the "./otel" and "./status" entry points).
export { DIAGNOSTICS_CHANNELS, subscribeDiagnostics, type DiagnosticsListeners } from "./diagnostics/channels.js";
export type {
  CallEndEvent,
  CallInfo,
  CallStartEvent,
  CallThrottledEvent,
  QuotaScope,
  DirectoryRemovalsDroppedEvent,
  TunnelCloseEvent,
  TunnelEndReason,
  TunnelInfo,
  TunnelOpenEvent,
  TunnelRole,
} from "./diagnostics/events.js";

// grpc-js compatibility: existing grpc-js clients and services over tunnels.
export { grpcChannel, type GrpcChannelOptions } from "./grpc-js/channel.js";
export type { GrpcServiceOptions } from "./grpc-js/service-definition.js";
export { tunnelMetadataFromCall } from "./grpc-js/server-call.js";
export {
  STATUS_DETAILS_KEY,
  grpcStatusFromError,
  tunnelErrorFromGrpcStatus,
  type StatusLike,
} from "./grpc-js/status-details.js";

// Connect-ES clients and services: see the "@protoc-gen-tunnel/runtime/connect" entry point.

/**
 * Names for implementers: the tunnel service and its wire constants, calls
 * in bytes (`CallStream`, `CallEnd`), the reverse-tunnel registry and
 * cluster seams, status conversion for grpc-js, diagnostics payloads, and
 * the named types of options and results that the root entry point's
 * functions take and return (code usually lets TypeScript infer them).
 * Like "@connectrpc/connect/protocol". Import them from
 * "@protoc-gen-tunnel/runtime/protocol".
 *
 * @module @protoc-gen-tunnel/runtime/protocol
 */

// The tunnel service and the wire.
export {
  tunnelServiceDefinition,
  type TunnelMethodDefinition,
  type TunnelServiceDefinition,
} from "./transport/tunnel-service.js";
export { NEGOTIATE_HEADER, NEGOTIATE_VALUE } from "./protocol/constants.js";
export type { UndecodableFrame } from "./engine/frame-conn.js";

// Calls in bytes: CallChannel.startCall returns a CallStream.
export type { CallStream, TunnelClientMethod } from "./api/client/index.js";
export { methodPath } from "./api/client/index.js";
export type { CallEnd, TunnelEnd } from "./ended.js";
export { toMetadata, type MetadataInit, type MetadataValue } from "./metadata.js";
export type { TunnelErrorOptions } from "./errors.js";
export type { ProcessMemoryUsage } from "./engine/memory-budget.js";
export type { TunnelLimits } from "./engine/limits.js";
export { TUNNEL_CLIENT_KEEPALIVE } from "./transport/keepalive.js";
// Client options and retries: the rule for merging call options, the policies, bidi streams in bytes.
export { mergeCallOptions, openRawBidiStream } from "./api/client/index.js";
export type { HedgingPolicy, RetryBudget, RetryPolicy } from "./api/retry/index.js";
// Fan-out: where the keys come from.
export { pagedKeys, type AgentKeySource, type KeyFilter, type KeyPage, type KeyPageRequest } from "./api/fanout/index.js";
export type { AuthContext } from "./engine/auth-context.js";

// Serving: the method implementations by kind, and what hosts them.
export type {
  BidiStreamingImpl,
  ClientStreamingImpl,
  MethodImpl,
  ServerStreamingImpl,
  ServiceHost,
  UnaryImpl,
} from "./api/serve/index.js";

// Tunnels: options and seams.
export type { DrainOptions, ForwardedForOptions, OpenTunnelOptions, ReplicaCluster, TunnelCaller } from "./api/tunnels/index.js";
// Budgets per client behind a trusted proxy (docs/security.md).
export { forwardedForKey } from "./api/tunnels/index.js";
export { NOT_STARTED_WARNING } from "./api/reverse/index.js";
export type {
  ReverseChannel,
  ReverseTunnelServerOptions,
  ServeOptions,
  ServeResult,
  ReconnectOptions,
  RetryPlan,
  ReverseTunnel,
  ReverseTunnelConflictPolicy,
  ReverseTunnelRegistry,
  TunnelSelector,
} from "./api/reverse/index.js";
export type { ReplayBufferLimits } from "./api/retry/index.js";

// Interceptors: one step, and the method type of requests and responses.
export type { InterceptorFn, MethodOf } from "./api/interceptors/index.js";
/* Deprecated: the names of the two interceptor families before Interceptor (see CHANGELOG.md). */
export type {
  CallFn,
  CallRequest,
  CallResponse,
  HandlerFn,
  HandlerRequest,
  HandlerResponse,
  StreamCallRequest,
  StreamCallResponse,
  StreamHandlerRequest,
  StreamHandlerResponse,
  UnaryCallRequest,
  UnaryCallResponse,
  UnaryHandlerRequest,
  UnaryHandlerResponse,
} from "./api/interceptors/index.js";

// Diagnostics payloads (subscribeDiagnostics and node:diagnostics_channel).
export { DIAGNOSTICS_CHANNELS, type DiagnosticsListeners } from "./diagnostics/channels.js";
export type {
  CallEndEvent,
  CallInfo,
  CallRoutedEvent,
  CallStartEvent,
  CallThrottledEvent,
  DirectoryRemovalsDroppedEvent,
  QuotaScope,
  TunnelCloseEvent,
  TunnelEndReason,
  TunnelOpenEvent,
  TunnelRole,
  TunnelsShedEvent,
} from "./diagnostics/events.js";

// grpc-js: status conversion and adapter options.
export type { GrpcChannelOptions } from "./grpc-js/channel.js";
export {
  STATUS_DETAILS_KEY,
  grpcStatusFromError,
  tunnelErrorFromGrpcStatus,
  type GrpcServiceOptions,
  type StatusLike,
} from "./api/grpc-services/index.js";

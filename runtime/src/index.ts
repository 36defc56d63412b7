/**
 * Public API of @protoc-gen-tunnel/runtime: what applications and generated
 * code write. Names for implementers (the wire, raw calls in bytes, the
 * registry and cluster seams) and the named types of options and results
 * that code rarely spells are in "@protoc-gen-tunnel/runtime/protocol".
 *
 * @module @protoc-gen-tunnel/runtime
 */
export { Code, codeName } from "./code.js";
export { TunnelError } from "./errors.js";
export { processMemoryUsage, setProcessMemoryLimit } from "./engine/memory-budget.js";

// Making calls: typed calls on any channel (generated clients are one line of each).
export type { CallChannel, CallOptions } from "./api/client/index.js";
export { bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "./api/client/index.js";
export { createTunnelClient, type TunnelClient } from "./api/client/index.js";
// Client options (interceptors, default call options, retries) and push-style bidi calls.
export { clientChannel, type TunnelClientOptions } from "./api/client/index.js";
export { openBidiStream, type BidiStream } from "./api/client/index.js";
// Fan-out: one call per agent, bounded.
export { forEachAgent, type AgentResult, type AgentSelection, type FanOutHandler, type ForEachAgentOptions } from "./api/fanout/index.js";

// Serving calls.
export type { HandlerContext, ServiceImpl, ServiceRegistrar } from "./api/serve/index.js";

// Tunnels: forward (openTunnel, TunnelServiceHandler) and reverse (ReverseTunnelServer, keyAsChannel).
export type { TunnelChannel } from "./api/tunnels/index.js";
export { openTunnel } from "./api/tunnels/index.js";
export { TunnelServiceHandler, type TunnelServiceHandlerOptions } from "./api/tunnels/index.js";
export { TunnelServiceClient } from "./transport/tunnel-service.js";
export { tunnelServerOptions } from "./transport/keepalive.js";
export type { ReverseChannels } from "./api/reverse/index.js";
export { ReverseTunnelServer } from "./api/reverse/index.js";

// Interceptors for typed calls (withInterceptors) and typed handlers (the `interceptors` option): one type for both sides.
export { withInterceptors } from "./api/interceptors/index.js";
export type { Interceptor, StreamRequest, StreamResponse, UnaryRequest, UnaryResponse } from "./api/interceptors/index.js";
/* Deprecated: the names of the two families before Interceptor (the others are in /protocol; see CHANGELOG.md). */
export type { CallInterceptor, HandlerInterceptor } from "./api/interceptors/index.js";

// Observability: diagnostics channels (see also the "./otel" and "./status" entry points).
export { subscribeDiagnostics } from "./diagnostics/channels.js";
export type { TunnelInfo } from "./diagnostics/events.js";

// grpc-js compatibility: existing grpc-js clients and services over tunnels.
export { grpcChannel } from "./grpc-js/channel.js";
export { tunnelMetadataFromCall } from "./api/grpc-services/index.js";

// Connect-ES clients and services: see the "@protoc-gen-tunnel/runtime/connect" entry point.

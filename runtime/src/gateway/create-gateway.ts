import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { ReverseChannels } from "../api/reverse/index.js";
import { GatewayCore } from "./gateway-core.js";
import { resolveGatewayOptions, type TunnelGatewayOptions } from "./gateway-options.js";
import { listenGateway, type GatewayListenOptions, type TunnelGatewayServer } from "./gateway-server.js";
import { grpcJsServices, type GrpcServiceEntry, type PassThroughService } from "./grpc-js-services.js";
import { serveGrpcStream } from "./grpc-http2.js";
import { gatewayRequestHandler, type GatewayRequestHandler } from "./web-handler.js";

/** Options of `TunnelGateway.grpcJsServices`. */
export interface GrpcJsServicesOptions {
  /** Also pass grpc.health.v1 to the gateway's health checks; default true. */
  health?: boolean;
}

/**
 * A gateway that lets any gRPC, Connect or browser client call any agent by
 * its affinity key, without a line of server code per method: each call is
 * forwarded in bytes to `keyAsChannel(key)` of the handler. Mount one or
 * more of its front doors; they share one forwarding core.
 */
export interface TunnelGateway {
  /**
   * gRPC on any method, for a Node `http2` server's 'stream' event
   * (`http2Server.on("stream", gateway.grpcStreamHandler)`): what
   * reflection-driven clients such as grpcurl need.
   */
  readonly grpcStreamHandler: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;
  /**
   * Connect and gRPC-Web (binary or JSON) on any method, and gRPC too on
   * HTTP/2: a request handler for `http.createServer`, `https` or `http2`
   * servers (`@connectrpc/connect-node`'s `(req, res, next?)` shape).
   */
  readonly requestHandler: GatewayRequestHandler;
  /**
   * Pass-through handlers for a grpc-js server, for the methods of the given
   * services (grpc-js has no catch-all; use `grpcStreamHandler` or `listen`
   * for any method), plus grpc.health.v1:
   *
   * ```ts
   * for (const [definition, impl] of gateway.grpcJsServices([CameraService])) {
   *   server.addService(definition, impl);
   * }
   * ```
   */
  grpcJsServices(services: readonly PassThroughService[], options?: GrpcJsServicesOptions): GrpcServiceEntry[];
  /**
   * Listens on one cleartext port for everything: gRPC (HTTP/2, as
   * `grpcurl -plaintext` and gRPC clients connect), Connect and gRPC-Web
   * over HTTP/1.1 or HTTP/2. For TLS mount `requestHandler` on an
   * `http2.createSecureServer({ allowHTTP1: true })`.
   */
  listen(options?: GatewayListenOptions): Promise<TunnelGatewayServer>;
  /**
   * Whether the gateway reports itself SERVING to health checks (empty
   * service) and takes new calls; false while shutting down, so load
   * balancers and Kubernetes stop sending calls (new ones fail UNAVAILABLE).
   */
  serving: boolean;
}

/**
 * Makes a tunnel gateway for the reverse tunnels of `channels` (a
 * `TunnelServiceHandler<string>`; in cluster mode it reaches keys held by
 * other replicas through the relay):
 *
 * ```ts
 * const gateway = createTunnelGateway(handler, {
 *   authorize: (call, key) => tokenAllows(call.metadata.get("authorization")[0], key),
 * });
 * const server = await gateway.listen({ port: 8443, host: "0.0.0.0" });
 * // grpcurl -plaintext -H 'tunnel-key: camera-3' localhost:8443 list
 * ```
 *
 * Throws a TypeError without `authorize` (pass `allowAll` to let every
 * caller reach every agent), a RangeError for bad limits.
 */
export function createTunnelGateway(channels: ReverseChannels<string>, options: TunnelGatewayOptions): TunnelGateway {
  const core = new GatewayCore(channels, resolveGatewayOptions(options));
  const requestHandler = gatewayRequestHandler(core);
  const grpcStreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => serveGrpcStream(core, stream, headers);
  return {
    grpcStreamHandler,
    requestHandler,
    grpcJsServices: (services, servicesOptions = {}) => grpcJsServices(core, services, servicesOptions.health ?? true),
    listen: (listenOptions) => listenGateway(grpcStreamHandler, requestHandler, listenOptions),
    get serving() {
      return core.isServing;
    },
    set serving(serving: boolean) {
      core.setServing(serving);
    },
  };
}

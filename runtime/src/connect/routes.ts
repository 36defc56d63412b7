import { createConnectRouter, type ConnectRouter, type ConnectRouterOptions } from "@connectrpc/connect";
import type { ServiceHost } from "../api/serve/index.js";
import { universalStreamHandler } from "./universal-call.js";

/**
 * Options of `addConnectRoutes`: those of Connect's router (`interceptors`,
 * `readMaxBytes`, `jsonOptions`, `shutdownSignal`, ...). Tunnels carry the
 * gRPC protocol, so the protocol switches are not among them.
 */
export type ConnectRoutesOptions = Omit<ConnectRouterOptions, "grpc" | "grpcWeb" | "connect">;

/**
 * Serves Connect-ES service implementations over tunnels: on a
 * TunnelServiceHandler over forward tunnels, on a ReverseTunnelServer over
 * reverse tunnels. `routes` registers them on a Connect router exactly as
 * for `connectNodeAdapter({ routes })` or `fastifyConnectPlugin`, so the
 * same routes can serve HTTP and tunnels:
 *
 * ```ts
 * const routes = (router: ConnectRouter) => router.service(ElizaService, elizaImpl);
 * addConnectRoutes(handler, routes, { interceptors: [logger] });
 * ```
 *
 * Handlers get Connect's `HandlerContext`: `requestHeader` (the call
 * metadata, `-bin` values base64-encoded), `responseHeader`,
 * `responseTrailer`, `signal` (aborted on cancel, deadline or tunnel end),
 * `timeoutMs()`, and `values`, where `tunnelCallInfo` tells about the
 * tunnel. Errors are ConnectErrors (with details) or anything else, which
 * becomes INTERNAL, as Connect does; methods left out answer UNIMPLEMENTED.
 * A service can be registered once per host.
 */
export function addConnectRoutes(host: ServiceHost, routes: (router: ConnectRouter) => void, options: ConnectRoutesOptions = {}): void {
  const router = createConnectRouter({ ...options, grpc: true, grpcWeb: false, connect: false });
  routes(router);
  host.registerHandlers(
    router.handlers.map((handler) => ({
      service: handler.service.typeName,
      method: handler.method.name,
      handler: universalStreamHandler(handler),
    })),
  );
}

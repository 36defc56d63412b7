/**
 * Connect-ES over tunnels: a Transport for Connect clients
 * (createClient(FooService, tunnelTransport(tunnel))) and Connect service
 * implementations served over tunnels (addConnectRoutes). A separate entry
 * point ("@protoc-gen-tunnel/runtime/connect") so that only users of Connect
 * need @connectrpc/connect installed.
 *
 * @module @protoc-gen-tunnel/runtime/connect
 */
export { tunnelTransport, type TunnelTransportOptions } from "./connect/transport.js";
export { addConnectRoutes, type ConnectRoutesOptions } from "./connect/routes.js";
export { tunnelCallInfo, type TunnelCallInfo } from "./connect/call-info.js";

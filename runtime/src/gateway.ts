/**
 * The tunnel gateway: any gRPC, Connect or browser client calls any agent
 * by its affinity key, through a control server, without server code per
 * method (`createTunnelGateway`); and gRPC server reflection for agents
 * (`serveReflection`), so generic clients such as grpcurl can list,
 * describe and call them. A separate entry point
 * ("@protoc-gen-tunnel/runtime/gateway").
 *
 * @module @protoc-gen-tunnel/runtime/gateway
 */
export { createTunnelGateway, type GrpcJsServicesOptions, type TunnelGateway } from "./gateway/index.js";
export { allowAll, type GatewayAuthorizer, type GatewayCall, type GatewayProtocol } from "./gateway/index.js";
export type { TunnelGatewayOptions } from "./gateway/index.js";
export type { GatewayListenOptions, TunnelGatewayServer } from "./gateway/index.js";
export type { GrpcServiceEntry, PassThroughService } from "./gateway/index.js";
export type { GatewayRequestHandler, WebRequest, WebResponse } from "./gateway/index.js";
export { serveReflection } from "./gateway/index.js";

export * from "./create-gateway.js";
export * from "./gateway-call.js";
export * from "./gateway-options.js";
export * from "./gateway-server.js";
export * from "./grpc-js-services.js";
export * from "./reflection-service.js";
export * from "./web-calls.js";
export * from "./web-handler.js";

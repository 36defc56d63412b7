export * from "./connection-budgets.js";
export * from "./graceful-end.js";
export * from "./open-tunnel.js";
export * from "./replica-cluster.js";
export * from "./tunnel-channel.js";
export * from "./tunnel-service-handler-options.js";
export * from "./tunnel-service-handler.js";

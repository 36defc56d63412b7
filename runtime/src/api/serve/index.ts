export * from "./handler-context.js";
export * from "./server-calls.js";
export * from "./service-host.js";
export * from "./service-impl.js";
export * from "./service-registry.js";

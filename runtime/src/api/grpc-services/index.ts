export * from "./server-call.js";
export * from "./server-core.js";
export * from "./service-definition.js";
export * from "./status-details.js";

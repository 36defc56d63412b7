export * from "./admission.js";
export * from "./reconnect.js";
export * from "./reverse-tunnel-server.js";
export * from "./round-robin-channel.js";
export * from "./tunnel-registry.js";

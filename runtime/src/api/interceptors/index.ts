export * from "./deprecated-names.js";
export * from "./intercepted-calls.js";
export * from "./intercepted-channel.js";
export * from "./intercepted-handlers.js";
export * from "./interceptors.js";
export * from "./shared-getter.js";

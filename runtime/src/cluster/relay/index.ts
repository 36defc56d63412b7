export * from "./peer-tunnels.js";
export * from "./relay-call.js";
export * from "./relay-listener.js";
export * from "./relay-metadata.js";
export * from "./relay-target.js";

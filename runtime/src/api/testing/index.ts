export * from "./in-memory-call.js";
export * from "./in-process-client.js";
export * from "./test-agent.js";

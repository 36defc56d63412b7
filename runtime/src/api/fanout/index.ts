export * from "./agent-keys.js";
export * from "./for-each-agent.js";

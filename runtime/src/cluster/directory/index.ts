export * from "./affinity-directory.js";
export * from "./lease-keeper.js";
export * from "./pending-removals.js";
export * from "./redis-connection.js";
export * from "./redis-directory.js";
export * from "./redis-layout.js";
export * from "./registration-waiters.js";

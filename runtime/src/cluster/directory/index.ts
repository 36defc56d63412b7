export * from "./affinity-directory.js";
export * from "./lease-keeper.js";
export * from "./redis-connection.js";
export * from "./redis-directory.js";
export * from "./redis-layout.js";
export * from "./redis-listing.js";
export * from "./registration-waiters.js";
export * from "./replica-load.js";

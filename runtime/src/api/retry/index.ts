export * from "./policy-call.js";
export * from "./policy-channel.js";
export * from "./replay-budget.js";
export * from "./retry-policy.js";
export * from "./retrying-call.js";
export * from "./wait-signal.js";

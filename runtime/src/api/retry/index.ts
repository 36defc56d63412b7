export * from "./replay-budget.js";
export * from "./retrying-call.js";
export * from "./wait-signal.js";

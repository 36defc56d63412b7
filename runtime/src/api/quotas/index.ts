export * from "./call-quotas.js";
export * from "./quota-channel.js";
export * from "./token-buckets.js";

/** Short keepalive settings for tests: a dead connection is noticed within 600 ms. */
export const SHORT_KEEPALIVE = { "grpc.keepalive_time_ms": 300, "grpc.keepalive_timeout_ms": 300 };

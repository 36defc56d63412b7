import { afterAll, beforeAll } from "vitest";
import { sharedRedis } from "./redis-server.js";
import type { Cleanup } from "./servers.js";

/**
 * Hooks for a test file on the shared Redis: started before its tests;
 * after them `cleanup` runs (replicas, agents) and Redis stops. Returns
 * the Redis URL, once started.
 */
export function redisForFile(cleanup?: Cleanup): () => string {
  let redis: Awaited<ReturnType<typeof sharedRedis>> | undefined;
  beforeAll(async () => {
    redis = await sharedRedis();
  });
  afterAll(async () => {
    await cleanup?.run();
    await redis?.stop();
  });
  return () => {
    if (redis === undefined) throw new Error("redisForFile(): Redis is not started yet");
    return redis.url;
  };
}

// The demo's Redis: REDIS_URL when set, else a redis-server of its own on a
// loopback port (redis-server must be on PATH; INSTALL_REDIS says how).
export { INSTALL_REDIS, redisFromEnvOrStart as demoRedis } from "../../../scripts/redis-server.mjs";

/**
 * A real redis-server for tests (scripts/redis-server.mjs, shared with the
 * cluster example and the benchmark): started on an ephemeral loopback port
 * with persistence off in a temporary directory, killed (-9), paused and
 * restarted on the same port by the fault tests. Tests fail (never skip)
 * when there is no redis-server, naming the command that installs it.
 */
export { INSTALL_REDIS, RedisServer, redisServerBinary } from "../../../scripts/redis-server.mjs";
/** The Redis the tests share: REDIS_URL when given, else a server of their own; tests isolate themselves with a namespace each. */
export { redisFromEnvOrStart as sharedRedis } from "../../../scripts/redis-server.mjs";

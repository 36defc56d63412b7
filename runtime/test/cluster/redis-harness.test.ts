import { afterEach, describe, expect, it } from "vitest";
import { INSTALL_REDIS, RedisServer, redisServerBinary } from "../support/redis-server.js";

const saved = { PATH: process.env.PATH, REDIS_SERVER: process.env.REDIS_SERVER };
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe("the redis-server test harness", () => {
  it("fails with the install command when redis-server is not on PATH", async () => {
    delete process.env.REDIS_SERVER;
    process.env.PATH = "/nonexistent";
    expect(() => redisServerBinary()).toThrow(INSTALL_REDIS);
    await expect(RedisServer.start()).rejects.toThrow("apt-get update && apt-get install -y redis-server");
  });

  it("fails with the install command when REDIS_SERVER names no executable", () => {
    process.env.REDIS_SERVER = "/nonexistent/redis-server";
    expect(() => redisServerBinary()).toThrow(
      /REDIS_SERVER=\/nonexistent\/redis-server is not an executable file.*apt-get update && apt-get install -y redis-server/,
    );
  });

  it("starts a server (answering PING), restarts it on the same port, and stops it", async () => {
    const server = await RedisServer.start();
    try {
      const port = server.port;
      const firstPid = server.pid;
      await server.restart();
      expect(server.port).toBe(port);
      expect(server.pid).not.toBe(firstPid);
    } finally {
      await server.stop();
    }
    expect(server.pid).toBeUndefined();
  });
});

// How the cluster directory's Redis connections report failures: every one
// a TunnelError UNAVAILABLE naming Redis and the cause (kept as the error's
// cause), at once rather than queued, and only through the caller that
// hit it until a connection was ever ready.
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { RedisAffinityDirectory } from "../../src/cluster.js";
import { RedisConnection } from "../../src/cluster/directory/index.js";
import { Code, TunnelError } from "../../src/index.js";
import { clusterPerTest, gatedCluster } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { Cleanup } from "../support/servers.js";
import { outcome } from "../support/events.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("cluster directory: Redis connections", () => {
  it("open() on an unreachable Redis rejects UNAVAILABLE with the socket error as its cause, and reports nothing else", async () => {
    const port = await closedPort();
    const reported: TunnelError[] = [];
    const result = await outcome(
      RedisAffinityDirectory.open({ url: `redis://127.0.0.1:${port}`, address: "relay:1", onError: (e) => reported.push(e) }),
    );
    expect(result.ok).toBe(false);
    const error = !result.ok ? result.error : undefined;
    expect(error).toBeInstanceOf(TunnelError);
    expect(error).toMatchObject({ code: Code.UNAVAILABLE });
    expect((error as TunnelError).rawMessage).toMatch(
      new RegExp(`^cluster directory unavailable: Redis at 127\\.0\\.0\\.1:${port} is not reachable \\(.*ECONNREFUSED`),
    );
    expect((error as TunnelError).cause).toMatchObject({ message: expect.stringContaining("ECONNREFUSED") });
    expect(reported).toEqual([]); // never connected: nothing was lost
  });

  it("takes redis:// and rediss:// URLs only", async () => {
    const port = await closedPort();
    for (const scheme of ["redis", "rediss"]) {
      const result = await outcome(RedisAffinityDirectory.open({ url: `${scheme}://127.0.0.1:${port}`, address: "relay:1" }));
      expect(!result.ok && result.error).toMatchObject({ code: Code.UNAVAILABLE });
    }
    await expect(RedisAffinityDirectory.open({ url: `http://127.0.0.1:${port}`, address: "relay:1" })).rejects.toThrow(
      new TypeError("cluster directory: the Redis URL must start with redis:// or rediss://, not http://"),
    );
  });

  it("a command before the connection is up fails at once: not reachable (not connected)", async () => {
    const port = await closedPort();
    const connection = new RedisConnection({
      url: `redis://127.0.0.1:${port}`,
      options: {},
      commandTimeoutMs: 1_000,
      onReady: () => {},
      onLost: () => {},
    });
    cleanup.add(() => connection.destroy());
    await expect(connection.run((client) => client.ping())).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: `cluster directory unavailable: Redis at 127.0.0.1:${port} is not reachable (not connected)`,
    });
  });

  it("names Redis by host and port, 6379 and localhost when the URL leaves them out", async () => {
    for (const [url, server] of [
      ["redis://127.0.0.1", "127.0.0.1:6379"],
      ["redis://", "localhost:6379"],
      ["redis://user:secret@example.invalid:7001/2", "example.invalid:7001"],
    ]) {
      const connection = new RedisConnection({ url, options: {}, commandTimeoutMs: 1_000, onReady: () => {}, onLost: () => {} });
      cleanup.add(() => connection.destroy());
      // Never connected: nothing is attempted, the error names the server.
      await expect(connection.run((client) => client.ping())).rejects.toMatchObject({
        rawMessage: `cluster directory unavailable: Redis at ${server} is not reachable (not connected)`,
      });
    }
  });

  it("a command that fails otherwise fails UNAVAILABLE naming Redis and the failure", async () => {
    const c = newCluster();
    const connection = new RedisConnection({ url: c.url, options: {}, commandTimeoutMs: 1_000, onReady: () => {}, onLost: () => {} });
    cleanup.add(() => connection.destroy());
    await connection.connect();
    const server = connection.server;
    for (const [thrown, said] of [
      [new RangeError("bad argument"), "bad argument"],
      [new RangeError(""), "RangeError"],
      ["a string", "a string"],
    ] as const) {
      const error = await connection.run(() => Promise.reject(thrown)).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: Code.UNAVAILABLE,
        rawMessage: `cluster directory unavailable: ${server} failed (${said})`,
        cause: thrown,
      });
    }
    // Cut off while the command is in flight.
    const cut = await connection
      .run((client) => {
        const reply = client.ping();
        connection.destroy();
        return reply;
      })
      .catch((e: unknown) => e);
    expect(cut).toMatchObject({ code: Code.UNAVAILABLE });
    expect((cut as TunnelError).rawMessage).toMatch(new RegExp(`^cluster directory unavailable: ${server} failed \\(.+\\)$`));
    expect((cut as TunnelError).cause).toBeInstanceOf(Error);
  });

  it("a command Redis refuses fails UNAVAILABLE naming Redis's reply", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    // Something else wrote a string where the directory keeps a sorted set.
    await (await c.probe()).set(`${c.namespace}:key:k`, "not a sorted set");
    const result = await outcome(a.lookup("k"));
    expect(!result.ok && result.error).toMatchObject({ code: Code.UNAVAILABLE });
    expect(!result.ok && (result.error as TunnelError).rawMessage).toMatch(
      /^cluster directory unavailable: Redis at [^ ]+ refused the command \(.*WRONGTYPE/,
    );
  });
});

describe("cluster directory: closing", () => {
  it("closes both of its Redis connections", async () => {
    const c = newCluster();
    const probe = await c.probe();
    const name = `closing-${c.namespace}`;
    const named = async () =>
      String(await probe.sendCommand(["CLIENT", "LIST"]))
        .split("\n")
        .filter((line) => line.includes(` name=${name} `)).length;
    const a = await c.replica("a", { redisOptions: { name } });
    a.register("k");
    await a.flush();
    expect(await named()).toBe(2); // commands and subscriber
    await a.close();
    await eventually("the connections closed", named, (n) => n === 0, 5_000);
  });

  it("registers and unregisters nothing once closed", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    a.register("kept");
    await a.close();
    a.register("late");
    a.unregister("kept");
    expect([...a.registeredKeys]).toEqual(["kept"]);
  });

  it("a close while Redis is unreachable reports the failed withdrawal and still completes", async () => {
    const { gate, c } = await gatedCluster(cleanup);
    const a = await c.replica("a", { url: gate.url, leaseMs: 60_000, refreshMs: 20_000 });
    a.register("k");
    await a.flush();
    gate.down();
    await eventually(
      "a has lost Redis",
      async () => c.reported.length,
      (n) => n === 2,
      5_000,
    );
    await a.close();
    const after = c.reported.slice(2).map((r) => r.error.rawMessage);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatch(/^cluster directory unavailable: Redis at 127\.0\.0\.1:\d+ is not reachable/);
  });
});

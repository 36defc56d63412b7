import { describe, expect, it } from "vitest";
import { ConnectionBudgets } from "../src/api/tunnels/index.js";
import { resolveLimits } from "../src/engine/limits.js";
import { MemoryBudget, StreamMemory, processMemory, processMemoryUsage, setProcessMemoryLimit } from "../src/engine/memory-budget.js";
import { TUNNEL_BYTES } from "../src/engine/memory-costs.js";
import { Code, TunnelError } from "../src/index.js";

/** process → connection → tunnel, with small limits. */
function chain() {
  const process = new MemoryBudget("process", 1_000);
  const connection = process.child("connection", 600);
  const tunnel = connection.child("tunnel", 400);
  return { process, connection, tunnel };
}

describe("MemoryBudget", () => {
  it("charges every level up the chain and releases them all", () => {
    const { process, connection, tunnel } = chain();
    expect(tunnel.tryCharge(300)).toBeUndefined();
    expect([tunnel.used, connection.used, process.used]).toEqual([300, 300, 300]);
    tunnel.release(300);
    expect([tunnel.used, connection.used, process.used]).toEqual([0, 0, 0]);
  });

  it("refuses a charge that would exceed any level, names that level, and charges nothing", () => {
    const { process, connection, tunnel } = chain();
    const sibling = connection.child("sibling", 400);
    expect(sibling.tryCharge(350)).toBeUndefined();
    expect(tunnel.tryCharge(401)).toBe(tunnel); // its own limit
    expect(tunnel.tryCharge(300)).toBe(connection); // 350 + 300 > 600
    expect([tunnel.used, connection.used, process.used]).toEqual([0, 350, 350]);
    expect(tunnel.tryCharge(250)).toBeUndefined(); // exactly the connection's limit
    expect(connection.used).toBe(600);
  });

  it("forced charges count even past a limit, so later charges see the memory", () => {
    const { connection, tunnel } = chain();
    tunnel.forceCharge(500);
    expect(tunnel.used).toBe(500);
    expect(tunnel.tryCharge(1)).toBe(tunnel);
    expect(connection.tryCharge(101)).toBe(connection);
  });
});

describe("StreamMemory", () => {
  it("releases what the stream still holds exactly once when it ends; nothing is counted after", () => {
    const { tunnel } = chain();
    const stream = new StreamMemory(tunnel);
    expect(stream.charge(100)).toBeUndefined();
    expect(stream.charge(50)).toBeUndefined();
    stream.release(50);
    expect(tunnel.used).toBe(100);
    stream.end();
    expect(tunnel.used).toBe(0);
    stream.end();
    stream.release(100); // e.g. a send that finishes after the end
    expect(stream.charge(70)).toBeUndefined();
    expect([tunnel.used, stream.bytes]).toEqual([0, 0]);
  });

  it("a refused charge is RESOURCE_EXHAUSTED naming the limit, and holds nothing", () => {
    const { tunnel } = chain();
    const stream = new StreamMemory(tunnel);
    const error = stream.charge(401);
    expect(error).toBeInstanceOf(TunnelError);
    expect(error).toMatchObject({ code: Code.RESOURCE_EXHAUSTED, rawMessage: "memory limit tunnel (400 bytes) reached" });
    expect(stream.bytes).toBe(0);
  });
});

describe("the process budget", () => {
  it("is configurable and validated", () => {
    const before = processMemoryUsage().limit;
    try {
      setProcessMemoryLimit(123_456);
      expect(processMemoryUsage().limit).toBe(123_456);
      expect(() => setProcessMemoryLimit(0)).toThrow(RangeError);
      expect(() => setProcessMemoryLimit(1.5)).toThrow(RangeError);
    } finally {
      setProcessMemoryLimit(before);
    }
  });
});

describe("ConnectionBudgets", () => {
  const limits = resolveLimits({ maxTunnelsPerConnection: 2, maxConnectionMemoryBytes: 64 * 1024, maxTunnelMemoryBytes: 32 * 1024 });

  it("admits up to maxTunnelsPerConnection per connection, each with its cost, and forgets a connection with its last tunnel", () => {
    const connections = new ConnectionBudgets();
    const before = processMemory.used;
    const a = connections.admit("peer-1", limits);
    const b = connections.admit("peer-1", limits);
    const other = connections.admit("peer-2", limits);
    if (a instanceof TunnelError || b instanceof TunnelError || other instanceof TunnelError) throw new Error("refused");
    expect(processMemory.used - before).toBe(3 * TUNNEL_BYTES);
    const third = connections.admit("peer-1", limits);
    expect(third).toMatchObject({ code: Code.RESOURCE_EXHAUSTED, rawMessage: "too many tunnels on this connection (limit 2)" });
    a.release();
    a.release(); // once only
    expect(connections.tunnelsOn("peer-1")).toBe(1);
    const again = connections.admit("peer-1", limits);
    expect(again).not.toBeInstanceOf(TunnelError);
    for (const lease of [b, other, again]) if (!(lease instanceof TunnelError)) lease.release();
    expect([connections.tunnelsOn("peer-1"), connections.tunnelsOn("peer-2")]).toEqual([0, 0]);
    expect(processMemory.used).toBe(before);
  });

  it("a tunnel's budget sits under its connection's: tunnels of one connection share its limit", () => {
    const connections = new ConnectionBudgets();
    const a = connections.admit("peer", limits);
    const b = connections.admit("peer", limits);
    if (a instanceof TunnelError || b instanceof TunnelError) throw new Error("refused");
    expect(a.memory.tryCharge(30 * 1024)).toBeUndefined();
    // 2 tunnels' own cost + 30 KiB leave less than 30 KiB of the connection's 64 KiB.
    expect(b.memory.tryCharge(30 * 1024)?.name).toBe("maxConnectionMemoryBytes");
    a.memory.release(30 * 1024);
    a.release();
    b.release();
  });

  it("refuses a tunnel when the connection's memory is full", () => {
    const connections = new ConnectionBudgets();
    const tight = resolveLimits({ maxConnectionMemoryBytes: TUNNEL_BYTES + 1 });
    const first = connections.admit("peer", tight);
    expect(first).not.toBeInstanceOf(TunnelError);
    expect(connections.admit("peer", tight)).toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      rawMessage: `memory limit maxConnectionMemoryBytes (${TUNNEL_BYTES + 1} bytes) reached`,
    });
    if (!(first instanceof TunnelError)) first.release();
    expect(connections.tunnelsOn("peer")).toBe(0);
  });
});

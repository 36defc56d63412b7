// Listing the cluster's keys in process (the listing with replica processes
// killed is in listing.test.ts): pages bounded by the limit and resumed by
// the cursor, prefixes taken literally, namespaces and keys beyond ASCII,
// replicas whose lease ended left out, and bad requests refused.
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { KeyListPage, RedisAffinityDirectory } from "../../src/cluster.js";
import { Code } from "../../src/code.js";
import { TunnelError } from "../../src/errors.js";
import { allPages, clusterPerTest, gatedCluster } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { Cleanup } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const keysOf = (pages: readonly KeyListPage[]) => pages.flatMap((page) => page.keys);

/** The holders of every listed key, holders sorted. */
function holdersOf(pages: readonly KeyListPage[]): Record<string, string[]> {
  return Object.fromEntries(pages.flatMap((page) => page.keys.map((key, i) => [key, [...page.replicaIds[i]].sort()])));
}

async function registered(directory: RedisAffinityDirectory, keys: readonly string[]): Promise<void> {
  for (const key of keys) directory.register(key);
  await directory.flush();
}

const range = (n: number, name: (i: number) => string) => Array.from({ length: n }, (_, i) => name(i));

describe("listing the cluster's keys (in process)", () => {
  it("pages hold at most 100 keys by default and at most `limit`; resumed pages list each key once", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    const keys = range(250, (i) => `dev-${i}`);
    await registered(a, keys.slice(0, 150));
    await registered(b, keys.slice(100));

    const byDefault = await allPages(a);
    expect(byDefault.every((page) => page.keys.length <= 100 && page.replicaIds.length === page.keys.length)).toBe(true);
    expect(byDefault.length).toBeGreaterThanOrEqual(3);
    expect(keysOf(byDefault).sort()).toEqual([...keys].sort());
    const holders = holdersOf(byDefault);
    expect(holders["dev-0"]).toEqual(["a"]);
    expect(holders["dev-120"]).toEqual(["a", "b"]);
    expect(holders["dev-249"]).toEqual(["b"]);
    expect(byDefault.at(-1)?.cursor).toBeUndefined();
    expect(byDefault.slice(0, -1).every((page) => typeof page.cursor === "string")).toBe(true);

    // Small pages: a SCAN step holds more keys than fit, so pages resume inside a step (the cursor says after which key).
    const small = await allPages(b, { limit: 7 });
    expect(small.every((page) => page.keys.length <= 7)).toBe(true);
    expect(small.some((page) => page.cursor?.includes("."))).toBe(true);
    const listed = keysOf(small);
    expect(listed.length).toBe(keys.length);
    expect(listed.sort()).toEqual([...keys].sort());

    // One page holds everything with room to spare: no cursor.
    const one = await a.listKeys({ limit: 1_000 });
    expect(one.keys.sort()).toEqual([...keys].sort());
    expect(one.cursor).toBeUndefined();
    // The smallest page.
    const single = await a.listKeys({ limit: 1 });
    expect(single.keys).toHaveLength(1);
    expect(single.cursor).toBeDefined();
    // An empty cursor starts from the beginning, like none.
    expect((await a.listKeys({ cursor: "", limit: 1_000 })).keys.sort()).toEqual([...keys].sort());
  });

  it("lists nothing for a prefix no key has, with glob characters taken literally", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    await registered(a, ["cam*1", "cam?2", "cam[3]", "cam\\4", "camera-5"]);
    const list = async (prefix: string) => keysOf(await allPages(a, { prefix })).sort();
    expect(await list("cam*")).toEqual(["cam*1"]);
    expect(await list("cam?")).toEqual(["cam?2"]);
    expect(await list("cam[")).toEqual(["cam[3]"]);
    expect(await list("cam\\")).toEqual(["cam\\4"]);
    expect(await list("cam")).toHaveLength(5);
    expect(await list("")).toHaveLength(5);
    expect(await list("nothing-")).toEqual([]);
    // Keys this replica unregistered leave the listing at once.
    a.unregister("camera-5");
    await a.flush();
    expect(await list("camera")).toEqual([]);
  });

  it("lists keys and namespaces beyond ASCII, resuming pages after such keys", async () => {
    const c = newCluster();
    // A namespace of multi-byte characters, sorting below the letters of the others.
    const namespace = `L-ü-名前-${randomUUID()}`;
    const a = await c.replica("a", { namespace });
    const other = await c.replica("other"); // the fixture's namespace: never listed with a's
    await registered(other, ["κλειδί-x"]);
    const keys = range(40, (i) => `κλειδί-${i}-🔑`);
    await registered(a, keys);
    const pages = await allPages(a, { limit: 3 });
    expect(pages.some((page) => page.cursor?.includes("."))).toBe(true);
    expect(keysOf(pages).sort()).toEqual([...keys].sort());
    expect(keysOf(await allPages(a, { prefix: "κλειδί-1" })).sort()).toEqual(keys.filter((k) => k.startsWith("κλειδί-1")).sort());
    expect(keysOf(await allPages(other))).toEqual(["κλειδί-x"]);
  });

  it("leaves out the keys of a replica whose lease ended, and lists the others holding them", async () => {
    const { gate, c: direct } = await gatedCluster(cleanup);
    const a = await direct.replica("a");
    const b = await direct.replica("b", { url: gate.url, leaseMs: 300, refreshMs: 100 });
    await registered(a, ["both"]);
    await registered(b, ["both", "only-b"]);
    expect(holdersOf(await allPages(a))).toEqual({ both: ["a", "b"], "only-b": ["b"] });

    gate.down(); // b can no longer refresh its leases
    await eventually(
      "b's leases out of the listing",
      async () => holdersOf(await allPages(a)),
      (h) => h["only-b"] === undefined,
      5_000,
    );
    expect(holdersOf(await allPages(a))).toEqual({ both: ["a"] });
  });

  it("refuses a cursor it did not make (INVALID_ARGUMENT), limits outside 1..1000 (RangeError), a prefix not a string (TypeError)", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    await registered(a, ["k"]);
    const made = (await a.listKeys({ limit: 1 })).cursor;
    for (const cursor of ["not a cursor", "x12", "12x", "1.", "1.a!b", "1.=", `1${"0".repeat(20)}`, ".YQ", 12 as unknown as string]) {
      const refusal = await a.listKeys({ cursor }).catch((e: unknown) => e);
      expect(refusal, String(cursor)).toBeInstanceOf(TunnelError);
      expect((refusal as TunnelError).code).toBe(Code.INVALID_ARGUMENT);
      expect((refusal as TunnelError).rawMessage).toBe("listKeys: not a cursor this listing returned");
    }
    // The cursors it makes have up to 20 digits, and an after-key part.
    await expect(a.listKeys({ cursor: `1${"0".repeat(19)}` })).resolves.toBeDefined();
    await expect(a.listKeys({ cursor: "0.YQ" })).resolves.toBeDefined();
    if (made !== undefined) await expect(a.listKeys({ cursor: made })).resolves.toBeDefined();
    for (const limit of [0, 1_001, 1.5, Number.NaN]) {
      await expect(a.listKeys({ limit })).rejects.toThrow(
        new RangeError(`listKeys: limit must be a whole number from 1 to 1000 (got ${limit})`),
      );
    }
    await expect(a.listKeys({ prefix: 7 as unknown as string })).rejects.toThrow(new TypeError("listKeys: prefix must be a string"));
    await a.close();
    const closed = await a.listKeys().catch((e: unknown) => e);
    expect((closed as TunnelError).code).toBe(Code.UNAVAILABLE);
  });
});

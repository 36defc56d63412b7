// Listing the keys of a whole cluster (issue #29): 10,000 keys held by three
// replica processes, read back in bounded pages with the cursor, with and
// without a prefix; the replicas holding each key; a dead replica's keys
// leaving the listing with its lease (in-process listing tests: list-keys.test.ts).
import { afterEach, describe, expect, it } from "vitest";
import { allPages, ClusterFixture, TEST_LEASE_MS } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { DirectoryProcesses } from "../support/directory-processes.js";
import { redisForFile } from "../support/redis-per-file.js";

let cluster: ClusterFixture | undefined;
const processes = new DirectoryProcesses();

const redisUrl = redisForFile();
afterEach(async () => {
  processes.killAll();
  await cluster?.cleanup();
});

const KEYS = 10_000;
const keyName = (i: number) => `dev-${i}`;

describe("listing the cluster's keys", () => {
  it("lists 10,000 keys held by three replica processes in bounded pages, each once, with their holders", async () => {
    cluster = new ClusterFixture(redisUrl());
    const c = cluster;
    const shares: string[][] = [[], [], []];
    for (let i = 0; i < KEYS; i++) shares[i % 3].push(keyName(i));
    shares[1].push(keyName(0)); // one key held by two replicas
    const children = [];
    for (const [i, keys] of shares.entries()) children.push(await processes.start(c, `r${i + 1}`, keys));
    const observer = await c.replica("observer");

    const pages = await allPages(observer, { limit: 500 });
    const listed = pages.flatMap((page) => page.keys);
    expect(pages.every((page) => page.keys.length <= 500 && page.replicaIds.length === page.keys.length)).toBe(true);
    expect(pages.length).toBeGreaterThanOrEqual(KEYS / 500);
    expect(new Set(listed).size).toBe(KEYS);
    expect(listed.length).toBe(KEYS); // the keyspace did not change while listing: no key twice
    expect([...listed].sort()).toEqual(Array.from({ length: KEYS }, (_, i) => keyName(i)).sort());

    const holders = new Map(pages.flatMap((page) => page.keys.map((key, i) => [key, [...page.replicaIds[i]].sort()] as const)));
    expect(holders.get(keyName(0))).toEqual(["r1", "r2"]);
    expect(holders.get(keyName(1))).toEqual(["r2"]);
    expect(holders.get(keyName(9_998))).toEqual(["r3"]);

    // A prefix, in pages of 3: SCAN steps return more than that, so pages resume inside a step.
    const prefixed = (await allPages(observer, { prefix: "dev-12", limit: 3 })).flatMap((page) => {
      expect(page.keys.length).toBeLessThanOrEqual(3);
      return page.keys;
    });
    const expected = Array.from({ length: KEYS }, (_, i) => keyName(i)).filter((k) => k.startsWith("dev-12"));
    expect(expected.length).toBe(111);
    expect(prefixed.sort()).toEqual(expected.sort());

    // A replica killed: its keys leave the listing once its lease ends (those another replica holds stay).
    await processes.kill(children[0]);
    const gone = await eventually(
      "the dead replica's keys out of the listing",
      async () => (await allPages(observer, { limit: 1_000 })).flatMap((page) => page.keys),
      (keys) => keys.length === KEYS - shares[0].length + 1,
      TEST_LEASE_MS + 2_000,
    );
    expect(gone.value).toContain(keyName(0));
    expect(gone.value).not.toContain(keyName(3));
  }, 60_000);
});

/**
 * Directories for cluster tests: "replicas" opened on one Redis under a
 * namespace of their own (so tests and parallel runs never see each other's
 * keys), a probe connection to look at what Redis really holds, and cleanup.
 */
import { randomUUID } from "node:crypto";
import { createClient } from "redis";
import { afterAll, afterEach, beforeAll } from "vitest";
import {
  type AffinityRoute,
  type KeyListPage,
  type ListKeysRequest,
  RedisAffinityDirectory,
  type RedisAffinityDirectoryOptions,
} from "../../src/cluster.js";
import type { TunnelError } from "../../src/errors.js";
import { eventually } from "./conditions.js";
import { RedisGate } from "./redis-gate.js";
import { RedisServer, sharedRedis } from "./redis-server.js";
import type { Cleanup } from "./servers.js";

function probeClient(url: string) {
  const client = createClient({ url });
  client.on("error", () => {}); // fault tests kill Redis under it
  return client;
}
export type ProbeClient = ReturnType<typeof probeClient>;

/** Short leases so expiry tests take seconds; production defaults are 10 s / ~3.3 s. */
export const TEST_LEASE_MS = 1_500;
export const TEST_REFRESH_MS = 300;

export class ClusterFixture {
  readonly namespace = `test-${randomUUID()}`;
  /** Background failures reported by the directories, by replica id. */
  readonly reported: Array<{ replicaId: string; error: TunnelError }> = [];
  private readonly directories: RedisAffinityDirectory[] = [];
  private probeClient: ProbeClient | undefined;

  constructor(readonly url: string) {}

  /** Opens a directory whose replica id is `name` and whose relay address is `relay-<name>:7000`. */
  async replica(name: string, options: Partial<RedisAffinityDirectoryOptions> = {}): Promise<RedisAffinityDirectory> {
    const directory = await RedisAffinityDirectory.open({
      url: this.url,
      namespace: this.namespace,
      replicaId: name,
      address: `relay-${name}:7000`,
      leaseMs: TEST_LEASE_MS,
      refreshMs: TEST_REFRESH_MS,
      onError: (error) => this.reported.push({ replicaId: name, error }),
      ...options,
    });
    this.directories.push(directory);
    return directory;
  }

  /** A plain client on the same Redis, connected on first use. */
  async probe(): Promise<ProbeClient> {
    if (this.probeClient === undefined) {
      const client = probeClient(this.url);
      await client.connect();
      this.probeClient = client;
    }
    return this.probeClient;
  }

  /** Every Redis key of this test's namespace, sorted. */
  async redisKeys(): Promise<string[]> {
    const probe = await this.probe();
    const keys: string[] = [];
    for await (const batch of probe.scanIterator({ MATCH: `${this.namespace}:*`, COUNT: 1000 })) {
      keys.push(...batch);
    }
    return keys.sort();
  }

  /** The members of an entry's sorted set (replica ids), sorted. */
  async holders(key: string): Promise<string[]> {
    const probe = await this.probe();
    return (await probe.zRange(`${this.namespace}:key:${key}`, 0, -1)).sort();
  }

  /** Subscribers of the wake channel of `key`. */
  async subscribers(key: string): Promise<number> {
    const probe = await this.probe();
    const counts = await probe.pubSubNumSub(`${this.namespace}:registered:${key}`);
    return Object.values(counts)[0] ?? 0;
  }

  /** Resolves once the subscriber count of `key`'s wake channel is accepted (a waiter listens, or none does). */
  async untilSubscribers(key: string, accept: (count: number) => boolean): Promise<void> {
    await eventually(`subscribers of ${key}`, () => this.subscribers(key), accept, 5_000);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.directories.splice(0).map((directory) => directory.close()));
    this.probeClient?.destroy();
    this.probeClient = undefined;
  }
}

/** Routes sorted by replica id, for comparing. */
export function sortedRoutes(routes: readonly AffinityRoute[]): AffinityRoute[] {
  return [...routes].sort((a, b) => a.replicaId.localeCompare(b.replicaId));
}

/** The route a fixture replica publishes. */
export function routeOf(name: string): AffinityRoute {
  return { replicaId: name, address: `relay-${name}:7000` };
}

/**
 * Hooks for a test file on the shared Redis (started once per file); returns
 * a factory of fixtures, each with its own namespace, cleaned up after each test.
 */
export function clusterPerTest(): () => ClusterFixture {
  let redis: Awaited<ReturnType<typeof sharedRedis>> | undefined;
  const fixtures: ClusterFixture[] = [];
  beforeAll(async () => {
    redis = await sharedRedis();
  });
  afterEach(async () => {
    for (const fixture of fixtures.splice(0)) await fixture.cleanup();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return () => {
    if (redis === undefined) throw new Error("clusterPerTest(): Redis is not started yet");
    const fixture = new ClusterFixture(redis.url);
    fixtures.push(fixture);
    return fixture;
  };
}

/** A Redis of the test's own behind a gate that can cut replicas off with its data kept, and a fixture on it; `cleanup` stops them. */
export async function gatedCluster(cleanup: Cleanup): Promise<{ server: RedisServer; gate: RedisGate; c: ClusterFixture }> {
  const server = await RedisServer.start();
  cleanup.add(() => server.stop());
  const gate = await RedisGate.start(server.port);
  cleanup.add(() => gate.close());
  const c = new ClusterFixture(server.url);
  cleanup.add(() => c.cleanup());
  return { server, gate, c };
}

/** A Redis of the test's own and a fixture whose replicas all reach it through a gate; `cleanup` stops them. */
export async function clusterBehindGate(cleanup: Cleanup): Promise<{ gate: RedisGate; c: ClusterFixture }> {
  const { gate } = await gatedCluster(cleanup);
  const c = new ClusterFixture(gate.url);
  cleanup.add(() => c.cleanup());
  return { gate, c };
}

/** Every page of a key listing, in order (failing if it never ends). */
export async function allPages(directory: RedisAffinityDirectory, request: Omit<ListKeysRequest, "cursor"> = {}): Promise<KeyListPage[]> {
  const pages: KeyListPage[] = [];
  let cursor: string | undefined;
  do {
    const page = await directory.listKeys({ ...request, cursor });
    pages.push(page);
    cursor = page.cursor;
    if (pages.length > 10_000) throw new Error("the listing does not end");
  } while (cursor !== undefined);
  return pages;
}

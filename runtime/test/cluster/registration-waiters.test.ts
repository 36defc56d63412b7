// waitFor() across the cluster, at the level of RegistrationWaiters: a real
// Redis subscriber connection, and lookups this test answers one by one, so
// that what runs when is visible — a lookup once a key's subscription is
// confirmed, again for waiters that joined during one, again after a
// failure only when asked to (never polling), again after the subscriber
// reconnected (announcements sent meanwhile are lost), and channels
// released when nobody waits.
import { randomUUID } from "node:crypto";
import { createClient } from "redis";
import { afterEach, describe, expect, it } from "vitest";
import { type AffinityRoute, RedisConnection, RegistrationWaiters } from "../../src/cluster/directory/index.js";
import { deferred, type Deferred } from "../../src/deferred.js";
import { eventually } from "../support/conditions.js";
import { outcome } from "../support/events.js";
import { redisForFile } from "../support/redis-per-file.js";

const redisUrl = redisForFile();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const route = (replicaId: string): AffinityRoute => ({ replicaId, address: `relay-${replicaId}:7000` });

/** Lookups the test answers: each call waits for `answer`/`fail`, in the order they were made. */
class Lookups {
  readonly calls: Array<{ key: string; result: Deferred<AffinityRoute[]> }> = [];
  private readonly waiting: Array<{ count: number; reached: Deferred<void> }> = [];

  run = (key: string): Promise<AffinityRoute[]> => {
    const result = deferred<AffinityRoute[]>();
    this.calls.push({ key, result });
    for (const wait of this.waiting.filter((w) => w.count <= this.calls.length)) {
      wait.reached.resolve();
    }
    return result.promise;
  };

  /** Resolves once `count` lookups were made. */
  made(count: number): Promise<void> {
    const reached = deferred<void>();
    if (this.calls.length >= count) {
      reached.resolve();
    } else {
      this.waiting.push({ count, reached });
    }
    return reached.promise;
  }

  /** Answers lookup number `n` (from 1). */
  answer(n: number, routes: AffinityRoute[]): void {
    this.calls[n - 1].result.resolve(routes);
  }

  fail(n: number): void {
    this.calls[n - 1].result.reject(new Error("Redis did not answer"));
  }
}

/** A promise, and whether it has settled yet. */
function tracked<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { promise, settled: () => settled };
}

async function setup(options: { connect?: boolean } = {}) {
  const namespace = `waiters-${randomUUID()}`;
  const channel = (key: string) => `${namespace}:registered:${key}`;
  const lookups = new Lookups();
  const holder: { waiters?: RegistrationWaiters } = {};
  const subscriber = new RedisConnection({
    url: redisUrl(),
    options: {},
    commandTimeoutMs: 2_000,
    onReady: () => holder.waiters?.onSubscriberReady(),
    onLost: () => {},
  });
  const waiters = new RegistrationWaiters({ subscriber, channel, lookup: lookups.run });
  holder.waiters = waiters;
  const probe = createClient({ url: redisUrl() });
  probe.on("error", () => {});
  await probe.connect();
  cleanups.push(async () => {
    waiters.close(new Error("test over"));
    subscriber.destroy();
    probe.destroy();
  });
  if (options.connect !== false) {
    await subscriber.connect();
  }
  const subscribers = async (key: string) => Object.values(await probe.pubSubNumSub(channel(key)))[0] ?? 0;
  return {
    waiters,
    subscriber,
    lookups,
    probe,
    subscribers,
    /** Announces a registration on the key's channel, as the directory's assert script does. */
    announce: (key: string, replicaId: string) => probe.publish(channel(key), JSON.stringify(route(replicaId))),
    untilSubscribers: (key: string, accept: (n: number) => boolean) =>
      eventually(`subscribers of ${key}`, () => subscribers(key), accept, 5_000),
  };
}

describe("RegistrationWaiters", () => {
  it("looks up a key only once its subscription is confirmed, and that lookup wakes the waiter", async () => {
    const t = await setup();
    const waiting = t.waiters.wait("k");
    expect(t.lookups.calls).toHaveLength(0); // a lookup before subscribing could miss a registration
    await t.lookups.made(1);
    expect(await t.subscribers("k")).toBe(1);
    t.lookups.answer(1, [route("a")]);
    expect(await waiting).toEqual([route("a")]);
  });

  it("a waiter joining a subscribed key gets a lookup of its own", async () => {
    const t = await setup();
    const first = tracked(t.waiters.wait("k"));
    await t.lookups.made(1);
    t.lookups.answer(1, []);
    await t.lookups.calls[0].result.promise; // the first lookup is over
    const second = t.waiters.wait("k");
    expect(t.lookups.calls).toHaveLength(2);
    t.lookups.answer(2, [route("a")]);
    expect(await second).toEqual([route("a")]);
    expect(await first.promise).toEqual([route("a")]);
  });

  it("waiters joining during a lookup get one more lookup after it, so a registration in between is not missed", async () => {
    const t = await setup();
    const first = t.waiters.wait("k");
    await t.lookups.made(1);
    const second = t.waiters.wait("k");
    const third = t.waiters.wait("k");
    expect(t.lookups.calls).toHaveLength(1); // one lookup at a time
    t.lookups.answer(1, []); // sent before the registration
    await t.lookups.made(2);
    t.lookups.answer(2, [route("a")]);
    expect(await Promise.all([first, second, third])).toEqual([[route("a")], [route("a")], [route("a")]]);
    expect(t.lookups.calls).toHaveLength(2);
  });

  it("a lookup that wakes every waiter is not repeated, though waiters joined during it", async () => {
    const t = await setup();
    const first = t.waiters.wait("k");
    await t.lookups.made(1);
    const second = t.waiters.wait("k");
    t.lookups.answer(1, [route("a")]);
    expect(await Promise.all([first, second])).toEqual([[route("a")], [route("a")]]);
    expect(t.lookups.calls).toHaveLength(1);
  });

  it("a failed lookup runs again on retryFailedChecks, one at a time; without a failure that looks nothing up", async () => {
    const t = await setup();
    const waiting = tracked(t.waiters.wait("k"));
    const other = t.waiters.wait("other");
    await t.lookups.made(2);
    const [k, o] = t.lookups.calls[0].key === "k" ? [1, 2] : [2, 1];
    t.lookups.answer(o, []); // "other" is looked up fine: it waits for an announcement
    t.lookups.fail(k);
    await outcome(t.lookups.calls[k - 1].result.promise);
    t.waiters.retryFailedChecks();
    expect(t.lookups.calls.map((c) => c.key).slice(2)).toEqual(["k"]); // not "other"
    t.waiters.retryFailedChecks(); // the retry is still running: nothing more, now or after it
    expect(t.lookups.calls).toHaveLength(3);
    t.lookups.answer(3, []);
    await t.lookups.calls[2].result.promise;
    expect(t.lookups.calls).toHaveLength(3);
    t.waiters.retryFailedChecks(); // nothing failed
    expect(t.lookups.calls).toHaveLength(3);
    expect(waiting.settled()).toBe(false);
    await t.announce("k", "a");
    await t.announce("other", "b");
    expect(await waiting.promise).toEqual([route("a")]);
    expect(await other).toEqual([route("b")]);
  });

  it("after the subscriber reconnects, every waited-for key is looked up again", async () => {
    const t = await setup();
    const id = await t.subscriber.client.sendCommand(["CLIENT", "ID"]);
    const waiting = tracked(t.waiters.wait("k"));
    await t.lookups.made(1);
    t.lookups.answer(1, []);
    await t.probe.sendCommand(["CLIENT", "KILL", "ID", String(id)]);
    await t.lookups.made(2); // the announcement may have been sent while it was down
    expect(waiting.settled()).toBe(false);
    t.lookups.answer(2, [route("a")]);
    expect(await waiting.promise).toEqual([route("a")]);
  });

  it("waiters that came before the subscriber was connected subscribe once it is, then look up", async () => {
    const t = await setup({ connect: false });
    const waiting = t.waiters.wait("k");
    expect(t.lookups.calls).toHaveLength(0);
    await t.subscriber.connect();
    await t.lookups.made(1);
    expect(await t.subscribers("k")).toBe(1);
    t.lookups.answer(1, []);
    await t.announce("k", "a");
    expect(await waiting).toEqual([route("a")]);
  });

  it("a key every waiter left while it was subscribing is unsubscribed once the subscription is confirmed", async () => {
    const t = await setup();
    const controller = new AbortController();
    const leaving = outcome(t.waiters.wait("left", { signal: controller.signal }));
    controller.abort(new Error("gone"));
    expect(await leaving).toMatchObject({ ok: false });
    // A later subscription on the same connection: once Redis has it, it had the first one too.
    const later = t.waiters.wait("later");
    await t.untilSubscribers("later", (n) => n === 1);
    await t.untilSubscribers("left", (n) => n === 0);
    await t.lookups.made(1);
    expect(t.lookups.calls.map((c) => c.key)).toEqual(["later"]); // nobody waits for "left"
    t.lookups.answer(1, [route("a")]);
    await later;
  });

  it("a key waited for again after everyone left subscribes anew and hears announcements", async () => {
    const t = await setup();
    const controller = new AbortController();
    const first = outcome(t.waiters.wait("k", { signal: controller.signal }));
    await t.lookups.made(1);
    t.lookups.answer(1, []);
    controller.abort(new Error("gone"));
    await first;
    await t.untilSubscribers("k", (n) => n === 0);
    const again = t.waiters.wait("k");
    await t.lookups.made(2);
    t.lookups.answer(2, []);
    await t.untilSubscribers("k", (n) => n === 1);
    await t.announce("k", "a");
    expect(await again).toEqual([route("a")]);
  });

  it("close rejects every waiter with its reason, and later waits at once", async () => {
    const t = await setup();
    const a = outcome(t.waiters.wait("k1"));
    const b = outcome(t.waiters.wait("k2"));
    const reason = new Error("directory closed");
    t.waiters.close(reason);
    expect(await a).toEqual({ ok: false, error: reason });
    expect(await b).toEqual({ ok: false, error: reason });
    expect(await outcome(t.waiters.wait("k3"))).toEqual({ ok: false, error: reason });
  });
});

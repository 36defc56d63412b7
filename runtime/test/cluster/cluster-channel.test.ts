// A cluster channel (keyAsChannel in cluster mode) between calls: what
// ready() says after calls found the key here, elsewhere or nowhere; that a
// route found once is reused without asking the directory again; and that
// waiting for a key leaves no subscription behind and does not spin while
// the only holder cannot be reached.
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, unaryCall } from "../../src/index.js";
import type { AffinityDirectory } from "../../src/cluster.js";
import { clusterPerTest } from "../support/cluster.js";
import { outcome } from "../support/events.js";
import { connectAgent, servedBy } from "../support/reverse.js";
import { startReplica } from "../support/replicas.js";
import { Cleanup } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A directory that records every key looked up through it. */
function countingLookups(lookups: string[]): (directory: AffinityDirectory) => AffinityDirectory {
  return (directory) =>
    Object.assign(Object.create(directory) as AffinityDirectory, {
      lookup: (key: string, options?: Parameters<AffinityDirectory["lookup"]>[1]) => {
        lookups.push(key);
        return directory.lookup(key, options);
      },
    });
}

describe("cluster channel", () => {
  it("ready() is true once a call found the key on another replica, and false again once a call found it nowhere", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const channel = a.handler.keyAsChannel("K");
    expect(channel.ready()).toBe(false);

    const agent = await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    await b.cluster.directory.flush();
    expect(channel.ready()).toBe(false); // nothing asked yet: no tunnel here, no route seen
    expect(servedBy(await unaryCall(channel, TestService.method.unary, {}))).toBe("agent-b");
    expect(channel.ready()).toBe(true);

    agent.controller.abort();
    await b.closedTunnelOf("agent-b");
    await b.cluster.directory.flush();
    const gone = await outcome(unaryCall(channel, TestService.method.unary, {}));
    expect(gone.ok || gone.error).toMatchObject({ code: Code.UNAVAILABLE });
    expect(channel.ready()).toBe(false);
  });

  it("waitForReady resolved by a tunnel here: ready() follows that tunnel, and the wait on the directory is dropped", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const channel = a.handler.keyAsChannel("L");
    const ready = channel.waitForReady({ signal: AbortSignal.timeout(10_000) });
    await c.untilSubscribers("L", (count) => count === 1); // waiting on the directory too
    const agent = await connectAgent(cleanup, a, { name: "local", key: "L" });
    await ready;
    expect(channel.ready()).toBe(true);
    await c.untilSubscribers("L", (count) => count === 0);

    agent.controller.abort();
    await a.closedTunnelOf("local");
    expect(channel.ready()).toBe(false); // the key was here, never seen elsewhere
  });

  it("an aborted waitForReady rejects with the signal's reason and unsubscribes", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const controller = new AbortController();
    const waiting = outcome(a.handler.keyAsChannel("M").waitForReady({ signal: controller.signal }));
    await c.untilSubscribers("M", (count) => count === 1);
    controller.abort(new Error("caller left"));
    const result = await waiting;
    expect(result.ok || result.error).toMatchObject({ code: Code.CANCELLED, rawMessage: "caller left" });
    await c.untilSubscribers("M", (count) => count === 0);
  });

  it("a key found on another replica is looked up once; later calls reuse the route", async () => {
    const c = newCluster();
    const lookups: string[] = [];
    const a = await startReplica(cleanup, c, "a", { directory: countingLookups(lookups) });
    const b = await startReplica(cleanup, c, "b");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    await b.cluster.directory.flush();
    for (let i = 0; i < 3; i++) {
      expect(servedBy(await unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}))).toBe("agent-b");
    }
    expect(lookups).toEqual(["K"]);
  });

  it("a waiting call whose only holder cannot be reached waits for another one instead of asking again and again", async () => {
    const c = newCluster();
    const lookups: string[] = [];
    const a = await startReplica(cleanup, c, "a", { directory: countingLookups(lookups) });
    // A replica that registered the key but whose relay address refuses connections.
    const ghost = await c.replica("ghost", { address: "127.0.0.1:1" });
    ghost.register("G");
    await ghost.flush();
    const late = await outcome(
      unaryCall(a.handler.keyAsChannel("G"), TestService.method.unary, {}, { waitForReady: true, timeoutMs: 1_500 }),
    );
    expect(late.ok || late.error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(lookups).toEqual(["G"]);
  });

  it("a call waiting for its key (waitForReady) is served by an agent that then connects to this replica", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    await startReplica(cleanup, c, "b");
    const waiting = unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}, { waitForReady: true, timeoutMs: 10_000 });
    await c.untilSubscribers("K", (n) => n > 0); // it waits for the key anywhere in the cluster
    await connectAgent(cleanup, a, { name: "agent-a", key: "K" });
    expect(servedBy(await waiting)).toBe("agent-a");
  });
});

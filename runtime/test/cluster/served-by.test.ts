// Seeing the fleet from a replica (issue #29): which replica served a call
// (tunnel-served-by, in headers or a trailers-only answer), a reverse
// tunnel's key, locate and listKeys through the TunnelCluster, and a quota
// refusal relayed from the replica holding the key — final, with its RetryInfo.
import type { Metadata } from "@grpc/grpc-js";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { SERVED_BY_HEADER } from "../../src/cluster.js";
import { RetryInfoSchema } from "../../src/errordetails.js";
import { Code, createTunnelClient, forEachAgent, subscribeDiagnostics, TunnelError, unaryCall } from "../../src/index.js";
import type { CallRoutedEvent } from "../../src/protocol.js";
import { clusterPerTest } from "../support/cluster.js";
import { connectAgent } from "../support/reverse.js";
import { startReplica } from "../support/replicas.js";
import { Cleanup } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A unary call's response headers and trailers, and its error if it failed. */
async function call(channel: Parameters<typeof unaryCall>[0], init: { code?: number } = {}, waitForReady = false) {
  let headers: Metadata | undefined;
  let trailers: Metadata | undefined;
  let error: TunnelError | undefined;
  try {
    await unaryCall(channel, TestService.method.unary, init, {
      timeoutMs: 5_000,
      waitForReady,
      onHeader: (h) => (headers = h),
      onTrailer: (t) => (trailers = t),
    });
  } catch (e) {
    error = TunnelError.from(e);
  }
  return { servedBy: headers?.get(SERVED_BY_HEADER)[0], trailerServedBy: trailers?.get(SERVED_BY_HEADER)[0], error };
}

describe("who served a call, and where keys are", () => {
  it("tunnel-served-by names the replica whose tunnel carried the call, relayed or local", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const { tunnel } = await connectAgent(cleanup, b, { name: "agent-b", key: "on-b" });
    await connectAgent(cleanup, a, { name: "agent-a", key: "on-a" });
    await b.cluster.directory.flush();
    expect(tunnel.key).toBe("on-b");
    const routed: CallRoutedEvent[] = [];
    cleanup.add(subscribeDiagnostics({ callRouted: (event) => routed.push(event) }));

    expect(await call(a.handler.keyAsChannel("on-b"))).toMatchObject({ servedBy: "b", error: undefined });
    expect(await call(a.handler.keyAsChannel("on-a"))).toMatchObject({ servedBy: "a", error: undefined });
    // Diagnostics say the same, on the replica that routed the call (the relay listener on b starts no routing).
    const method = "/grpchantesting.TestService/Unary";
    expect(routed).toEqual([
      { key: "on-b", method, servedBy: "b", replicaId: "a", relayed: true },
      { key: "on-a", method, servedBy: "a", replicaId: "a", relayed: false },
    ]);
    // An error the agent answered without headers: relayed as trailers only, saying so there.
    const failed = await call(a.handler.keyAsChannel("on-b"), { code: Code.NOT_FOUND });
    expect(failed.error?.code).toBe(Code.NOT_FOUND);
    expect(failed.trailerServedBy ?? failed.servedBy).toBe("b");

    expect(await a.cluster.locate("on-b")).toEqual([{ replicaId: "b", address: b.relay.address }]);
    expect(await a.cluster.locate("nowhere")).toEqual([]);
    const page = await a.cluster.listKeys({ limit: 10 });
    expect(page.keys.map((key, i) => [key, page.replicaIds[i]]).sort()).toEqual([
      ["on-a", ["a"]],
      ["on-b", ["b"]],
    ]);
    expect(page.cursor).toBeUndefined();

    // forEachAgent from one replica reaches every agent of the cluster: the keys come from the directory's listing.
    const answered: string[] = [];
    for await (const result of forEachAgent(a.handler, { all: true }, (channel) => createTunnelClient(TestService, channel).unary({}))) {
      expect(result.ok).toBe(true);
      answered.push(result.key);
    }
    expect(answered.sort()).toEqual(["on-a", "on-b"]);
    // From the other replica, by prefix: the listing's filter reaches the agent held elsewhere.
    const byPrefix: string[] = [];
    for await (const result of forEachAgent(b.handler, { prefix: "on-a" }, (channel) =>
      createTunnelClient(TestService, channel).unary({}),
    )) {
      expect(result.ok).toBe(true);
      byPrefix.push(result.key);
    }
    expect(byPrefix).toEqual(["on-a"]);
  });

  it("a quota refusal on the holding replica reaches the caller as RESOURCE_EXHAUSTED with RetryInfo, never routed again", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b", { hub: { quotas: { perKey: { callsPerSecond: 0.01, burst: 1 } } } });
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    await b.cluster.directory.flush();
    expect(await call(a.handler.keyAsChannel("K"))).toMatchObject({ servedBy: "b", error: undefined });
    // With waitForReady a refusal would be retried until the deadline; a quota's answer is final at once.
    const started = performance.now();
    const throttled = await call(a.handler.keyAsChannel("K"), {}, true);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(throttled.error?.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(throttled.error?.rawMessage).toMatch(/^quota exceeded for key "K"/);
    const [info] = throttled.error!.findDetails(RetryInfoSchema);
    expect(Number(info.retryDelay?.seconds)).toBeGreaterThan(10);
    expect(throttled.servedBy).toBe("b");
  });
});

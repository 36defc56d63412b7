// Routing a call while the directory cannot be asked, and when a tunnel of
// this replica refuses it: fail at once naming why (or wait through the
// outage with waitForReady), and go on to another tunnel here.
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code, type TunnelError, unaryCall } from "../../src/index.js";
import { clusterBehindGate, clusterPerTest } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { outcome } from "../support/events.js";
import { connectAgent, servedBy } from "../support/reverse.js";
import { parkBusyAgent, startReplica } from "../support/replicas.js";
import { Cleanup } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Two replicas whose directories reach Redis through a gate the test can shut. */
async function gatedReplicas() {
  const { gate, c } = await clusterBehindGate(cleanup);
  const a = await startReplica(cleanup, c, "a");
  const b = await startReplica(cleanup, c, "b");
  return { gate, a, b };
}

describe("routing without the directory", () => {
  it("a call for a key not held here fails UNAVAILABLE naming the key and the directory's failure; with waitForReady it waits through the outage", async () => {
    const { gate, a, b } = await gatedReplicas();
    gate.down();
    await eventually(
      "a sees Redis lost",
      async () => a.cluster.directory.unreachableSince,
      (since) => since !== undefined,
      5_000,
    );

    const waiting = outcome(
      unaryCall(a.handler.keyAsChannel("W"), TestService.method.unary, {}, { waitForReady: true, timeoutMs: 20_000 }),
    );
    const failed = await outcome(unaryCall(a.handler.keyAsChannel("W"), TestService.method.unary, {}));
    expect(failed.ok).toBe(false);
    const error = (failed as { error: TunnelError }).error;
    expect(error.code).toBe(Code.UNAVAILABLE);
    expect(error.rawMessage).toMatch(/^cannot route the call for key "W": cluster directory unavailable: /);
    expect(error.cause).toBeDefined();

    gate.up();
    await connectAgent(cleanup, b, { name: "agent-w", key: "W" });
    const waited = await waiting;
    expect(waited.ok).toBe(true);
    expect(waited.ok && servedBy(waited.value)).toBe("agent-w");
  }, 30_000);
});

describe("a tunnel here refusing the call", () => {
  it("the call goes to another tunnel for the key on this replica", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    const { gate, parked } = await parkBusyAgent(cleanup, b, "K"); // busy refuses every further call
    await connectAgent(cleanup, b, { name: "free", key: "K" });
    for (let i = 0; i < 6; i++) {
      expect(servedBy(await unaryCall(b.handler.keyAsChannel("K"), TestService.method.unary, {}))).toBe("free");
    }
    gate.release();
    expect(await parked).toHaveLength(1);
  });
});

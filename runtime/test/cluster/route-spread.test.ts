// Calls for a key that several other replicas hold are spread over them
// (the routes are tried in random order), not all sent to the first one
// the directory names.
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { unaryCall } from "../../src/index.js";
import { clusterPerTest } from "../support/cluster.js";
import { connectAgent, servedBy } from "../support/reverse.js";
import { startReplica } from "../support/replicas.js";
import { Cleanup } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("routes to a key held on several replicas", () => {
  it("calls from a replica without the key reach every holder", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const holders = await Promise.all(["b", "d", "e"].map((name) => startReplica(cleanup, c, name)));
    for (const holder of holders) {
      await connectAgent(cleanup, holder, { name: `agent-${holder.name}`, key: "K" });
      await holder.cluster.directory.flush();
    }
    const served = new Set<string>();
    // Each call picks one of three holders at random: 60 calls miss one with a chance under 1 in 10^10.
    for (let i = 0; i < 60 && served.size < 3; i++) {
      served.add(servedBy(await unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {})));
    }
    expect([...served].sort()).toEqual(["agent-b", "agent-d", "agent-e"]);
  });
});

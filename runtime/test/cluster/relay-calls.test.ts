// What a replica's relay listener answers a peer for each relayed call
// (over a raw relay tunnel carrying the secret, as a peer replica opens
// it): the call's key is required, a key held elsewhere is refused naming
// the replica and the key, and the call runs on the agent's tunnel.
import { create, toBinary } from "@bufbuild/protobuf";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code, openTunnel, serverStreamCall, type TunnelChannel, type TunnelError, unaryCall } from "../../src/index.js";
import { RELAY_KEY_HEADER, RELAY_SECRET_HEADER } from "../../src/cluster.js";
import { type MetadataInit, methodPath } from "../../src/protocol.js";
import { clusterPerTest } from "../support/cluster.js";
import { outcome } from "../support/events.js";
import { connectAgent, drain, Gate, servedBy } from "../support/reverse.js";
import { gatedAgentOnB, type Replica, startReplica, TEST_SECRET } from "../support/replicas.js";
import { Cleanup, tunnelClient } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A relay tunnel to `replica`, opened as a peer replica opens one. */
async function relayTunnel(replica: Replica): Promise<TunnelChannel> {
  const client = tunnelClient(replica.relay.address);
  cleanup.add(() => client.close());
  const tunnel = await openTunnel(client, { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } });
  cleanup.add(() => tunnel.close());
  return tunnel;
}

async function failure(tunnel: TunnelChannel, metadata: MetadataInit): Promise<TunnelError> {
  const result = await outcome(unaryCall(tunnel, TestService.method.unary, {}, { metadata }));
  expect(result.ok).toBe(false);
  return (result as { error: TunnelError }).error;
}

describe("relayed calls", () => {
  it("a relayed call names exactly one affinity key, else INVALID_ARGUMENT", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    const tunnel = await relayTunnel(b);
    for (const metadata of <MetadataInit[]>[{}, { [RELAY_KEY_HEADER]: [Buffer.from("K"), Buffer.from("K")] }]) {
      expect(await failure(tunnel, metadata)).toMatchObject({
        code: Code.INVALID_ARGUMENT,
        rawMessage: "a relayed call must name exactly one affinity key",
      });
    }
    // The same tunnel relays a call naming the key once.
    const res = await unaryCall(tunnel, TestService.method.unary, {}, { metadata: { [RELAY_KEY_HEADER]: Buffer.from("K") } });
    expect(servedBy(res)).toBe("agent-b");
  });

  it("a call for a key the replica does not hold is refused UNAVAILABLE naming the replica and the key", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    const tunnel = await relayTunnel(b);
    const error = await failure(tunnel, { [RELAY_KEY_HEADER]: Buffer.from("elsewhere") });
    expect(error.code).toBe(Code.UNAVAILABLE);
    expect(error.rawMessage).toMatch(/^replica b cannot take calls for key "elsewhere": ./);
  });

  it.each([
    ["shuts down", (replica: Replica) => replica.handler.initiateShutdown()],
    ["leaves the cluster", (replica: Replica) => replica.cluster.close()],
  ])("once the replica %s, its relay listener takes no new relay tunnels or calls (UNAVAILABLE)", async (_, stop) => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    const open = await relayTunnel(b);
    await stop(b);
    const client = tunnelClient(b.relay.address);
    cleanup.add(() => client.close());
    const refused = await outcome(openTunnel(client, { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } }));
    expect(refused.ok || refused.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "replica is shutting down" });
    const call = await outcome(unaryCall(open, TestService.method.unary, {}, { metadata: { [RELAY_KEY_HEADER]: Buffer.from("K") } }));
    expect(call.ok || call.error).toMatchObject({ code: Code.UNAVAILABLE });
  });

  it("a caller cancelling a relayed call cancels it on the agent's side", async () => {
    const { a, b, gate } = await gatedAgentOnB(cleanup, newCluster());
    const controller = new AbortController();
    const call = outcome(
      drain(serverStreamCall(a.handler.keyAsChannel("K"), TestService.method.serverStream, { count: 2 }, { signal: controller.signal })),
    );
    await gate.entered.promise;
    controller.abort();
    expect(await call).toMatchObject({ ok: false, error: { code: Code.CANCELLED } });
    await gate.aborted.promise; // the agent's handler saw the cancel
    expect(gate.wasAborted).toBe(true);

    // The same through the call's own cancel().
    const again = new Gate();
    await connectAgent(cleanup, b, { name: "agent-b2", key: "K2", impl: { serverStream: again.serverStream } });
    await b.cluster.directory.flush();
    const input = TestService.method.serverStream.input;
    const raw = a.handler.keyAsChannel("K2").startCall(methodPath(TestService.method.serverStream));
    await raw.send(toBinary(input, create(input, { count: 2 })));
    raw.closeSend();
    await again.entered.promise;
    raw.cancel();
    expect((await raw.done).error).toMatchObject({ code: Code.CANCELLED });
    await again.aborted.promise;
  });
});

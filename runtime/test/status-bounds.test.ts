// Issue #25, finding 8: a status from a peer (a tunnel server's, an
// agent's, one relayed by another replica) is bounded before it is passed
// on: its message and its details, with what was left out said at the end.
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code, type CallChannel, openTunnel, TunnelError, unaryCall } from "../src/index.js";
import { MAX_STATUS_DETAILS, MAX_STATUS_MESSAGE_CHARS } from "../src/protocol/status-codec.js";
import { clusterPerTest } from "./support/cluster.js";
import { outcome } from "./support/events.js";
import { connectAgent, startHub } from "./support/reverse.js";
import { startReplica } from "./support/replicas.js";
import { Cleanup, tunnelClient } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
const newCluster = clusterPerTest();

const HUGE = 2 * 1024 * 1024;
const DETAILS = 1_500;

/** A unary handler that fails with a 2 MiB message and 1,500 details. */
const unaryThatFailsHuge = {
  unary: async () => {
    const details = Array.from({ length: DETAILS }, (_, i) =>
      create(AnySchema, { typeUrl: "type.googleapis.com/google.rpc.DebugInfo", value: new Uint8Array([i & 0xff, 1, 2, 3]) }),
    );
    throw new TunnelError(Code.FAILED_PRECONDITION, "m".repeat(HUGE), { details });
  },
};

async function expectBounded(channel: CallChannel): Promise<void> {
  const result = await outcome(unaryCall(channel, TestService.method.unary, {}));
  expect(result.ok).toBe(false);
  const error = TunnelError.from(result.ok ? undefined : result.error);
  expect(error.code).toBe(Code.FAILED_PRECONDITION);
  expect(error.rawMessage.length).toBe(MAX_STATUS_MESSAGE_CHARS);
  expect(error.rawMessage).toMatch(
    new RegExp(
      `^m+ \\[message truncated from ${HUGE} characters\\] \\[${DETAILS - MAX_STATUS_DETAILS} of ${DETAILS} status details left out\\]$`,
    ),
  );
  expect(error.details).toHaveLength(MAX_STATUS_DETAILS);
}

describe("a status from a peer is bounded before it is passed on (issue #25)", () => {
  it("from a tunnel server, over a forward tunnel", async () => {
    const hub = await startHub(cleanup);
    hub.handler.registerService(TestService, { ...testServiceImpl, ...unaryThatFailsHuge });
    const client = tunnelClient(hub.address);
    cleanup.add(() => client.close());
    const tunnel = await openTunnel(client);
    cleanup.add(() => tunnel.close());
    await expectBounded(tunnel);
  });

  it("from an agent, over a reverse tunnel", async () => {
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, { name: "agent", impl: unaryThatFailsHuge });
    await expectBounded(hub.handler.keyAsChannel("agent"));
  });

  it("from an agent of another replica, through the relay: the note arrives intact", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K", impl: unaryThatFailsHuge });
    await expectBounded(a.handler.keyAsChannel("K"));
  });

  it("a status within the bounds passes unchanged", async () => {
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, {
      name: "agent",
      impl: {
        unary: async () => {
          throw new TunnelError(Code.ABORTED, "n".repeat(MAX_STATUS_MESSAGE_CHARS), {
            details: [create(AnySchema, { typeUrl: "t", value: new Uint8Array(100) })],
          });
        },
      },
    });
    const result = await outcome(unaryCall(hub.handler.keyAsChannel("agent"), TestService.method.unary, {}));
    const error = TunnelError.from(result.ok ? undefined : result.error);
    expect(error.rawMessage).toBe("n".repeat(MAX_STATUS_MESSAGE_CHARS));
    expect(error.details).toHaveLength(1);
  });
});

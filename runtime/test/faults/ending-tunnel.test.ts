// A call started on a reverse-tunnel hub in the tick between grpc-js's 'end'
// on an agent's tunnel RPC and the verdict on that end (clean half-close or
// lost connection, see serverCallConn) must not pick that tunnel: it goes to
// another agent with the same key, fails at once with UNAVAILABLE when there
// is none, or waits for one when it is wait-for-ready.
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { TestService, type Message } from "@protoc-gen-tunnel/interop";
import { Code, TunnelError, unaryCall } from "../../src/index.js";
import type { ReverseChannel } from "../../src/protocol.js";
import { deferred } from "../../src/deferred.js";
import { TunnelClientEngine } from "../../src/engine/client-engine.js";
import { resolveLimits } from "../../src/engine/limits.js";
import type { ClientToServer } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { MemoryConn } from "../support/memory-conn.js";
import { outcome } from "../support/events.js";
import { AGENT_NAME, connectAgent, servedBy, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";
import { expectNoLeaksAfterEach } from "./leaks.js";

type Outcome = Awaited<ReturnType<typeof outcome<Message>>>;

/** Who served a call, or its error. */
function servedOrError(result: Outcome): unknown {
  return result.ok ? servedBy(result.value) : result.error;
}

const cleanup = new Cleanup();
expectNoLeaksAfterEach(cleanup);

/**
 * A hub with agents `names` ("a" first, all with key "k"); agent "a" stops,
 * and `start` runs inside grpc-js's 'end' of its tunnel RPC: this listener
 * is registered after the handler's, so it runs in the same emit, after the
 * handler sent its status and before the verdict on the end.
 */
async function callsAsAgentAEnds(names: string[], start: (channel: ReverseChannel) => Array<Promise<Message>>) {
  let onEnd: (() => void) | undefined;
  const hub = await startHub(cleanup, {
    onReverseTunnelRpc: (call) => {
      if (call.metadata.get(AGENT_NAME)[0] === "a") {
        call.on("end", () => onEnd?.());
      }
    },
  });
  const agents = [];
  for (const name of names) {
    agents.push(await connectAgent(cleanup, hub, { name, key: "k" }));
  }
  const a = agents[0];
  const channel = hub.handler.keyAsChannel("k");
  const ran = deferred<{ tunnelClosed: boolean; calls: Array<Promise<Outcome>> }>();
  onEnd = () => ran.resolve({ tunnelClosed: a.tunnel.closed, calls: start(channel).map((c) => outcome(c)) });
  a.rts.stop();
  const { tunnelClosed, calls } = await ran.promise;
  expect(tunnelClosed).toBe(false); // the calls started before the verdict
  return { hub, a, calls };
}

describe("a call started while a reverse tunnel's end is being confirmed", () => {
  it("goes to another agent with the key, and the ending tunnel still ends cleanly", async () => {
    // Two calls: whichever tunnel the rotation points at, one would pick A.
    const { hub, a, calls } = await callsAsAgentAEnds(["a", "b"], (channel) => [
      unaryCall(channel, TestService.method.unary, {}),
      unaryCall(channel, TestService.method.unary, {}),
    ]);
    expect((await Promise.all(calls)).map(servedOrError)).toEqual(["b", "b"]);
    expect((await a.tunnel.done).error).toBeUndefined();
    expect(await hub.closedTunnelOf("a")).toBe(a.tunnel);
  });

  it("fails at once with UNAVAILABLE when the ending tunnel was the key's only one", async () => {
    const { a, calls } = await callsAsAgentAEnds(["a"], (channel) => [unaryCall(channel, TestService.method.unary, {})]);
    expect(await calls[0]).toMatchObject({ ok: false, error: { code: Code.UNAVAILABLE, rawMessage: 'no reverse tunnel for key "k"' } });
    expect((await a.tunnel.done).error).toBeUndefined();
  });

  it("waits for the key's next tunnel when it is wait-for-ready", async () => {
    const { hub, a, calls } = await callsAsAgentAEnds(["a"], (channel) => [
      unaryCall(channel, TestService.method.unary, {}, { waitForReady: true }),
    ]);
    expect((await a.tunnel.done).error).toBeUndefined();
    await connectAgent(cleanup, hub, { name: "a2", key: "k" });
    expect(servedOrError(await calls[0])).toBe("a2");
  });
});

describe("the tunnel-client engine between transportEnding and transportEnded", () => {
  const UNARY = "/grpchantesting.TestService/Unary";

  /** A negotiated tunnel-client engine writing to `conn`. */
  function engineOn(conn: MemoryConn<ClientToServer>): TunnelClientEngine {
    return new TunnelClientEngine(conn, { flowControl: true, expectSettings: false, limits: resolveLimits(undefined) });
  }

  /** What `run` threw (undefined if nothing). */
  function thrownBy(run: () => unknown): unknown {
    try {
      run();
    } catch (e) {
      return e;
    }
    return undefined;
  }

  it("refuses new streams with UNAVAILABLE at once, tells its listeners, and ends running streams only with the tunnel", async () => {
    const conn = new MemoryConn<ClientToServer>();
    const engine = engineOn(conn);
    const running = engine.openStream(UNARY, new Metadata());
    const told: TunnelError[] = [];
    engine.onPeerEnding((reason) => told.push(reason));

    engine.transportEnding();
    const refusal = thrownBy(() => engine.openStream(UNARY, new Metadata()));
    expect(refusal).toBeInstanceOf(TunnelError);
    expect(refusal).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "tunnel is ending: its peer closed the tunnel RPC" });
    expect(told).toEqual([refusal]);
    engine.onPeerEnding((reason) => told.push(reason)); // registered late: told at once
    expect(told).toEqual([refusal, refusal]);
    expect(engine.closed).toBe(false);
    expect(engine.activeStreams).toBe(1);
    expect(conn.written.filter((f) => f.frame.case === "newStream")).toHaveLength(1);

    engine.transportEnded();
    expect(await running.done).toMatchObject({ error: { code: Code.UNAVAILABLE, rawMessage: "tunnel closed: tunnel closed by peer" } });
    expect((await engine.done).error).toBeUndefined();
  });

  it("after the tunnel ended, neither ending nor its listeners do anything", async () => {
    const engine = engineOn(new MemoryConn<ClientToServer>());
    const told: TunnelError[] = [];
    engine.onPeerEnding((reason) => told.push(reason));
    engine.close();
    engine.transportEnding();
    engine.onPeerEnding((reason) => told.push(reason));
    expect(told).toEqual([]);
    expect(thrownBy(() => engine.openStream(UNARY, new Metadata()))).toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: "tunnel is closed",
    });
    expect((await engine.done).error).toBeUndefined();
  });
});

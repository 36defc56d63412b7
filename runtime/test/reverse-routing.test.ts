// Round-robin channels over reverse tunnels: by affinity key and over all
// tunnels, and fail-over when one tunnel of a key goes away.
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, TunnelError, bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "../src/index.js";
import type { ReverseChannel } from "../src/protocol.js";
import { EventLog, outcome } from "./support/events.js";
import { agentName, connectAgent, drain, keyFromMetadata, requests, servedBy, startHub, type Agent } from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function servedSequence(ch: ReverseChannel, n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    names.push(servedBy(await unaryCall(ch, TestService.method.unary, {})));
  }
  return names;
}

function codeOf(error: unknown): number | undefined {
  return error instanceof TunnelError ? error.code : undefined;
}

describe("round-robin over reverse tunnels", () => {
  it("calls for key A alternate between A's tunnels and never reach B", async () => {
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    await connectAgent(cleanup, hub, { name: "a2", key: "A" });
    await connectAgent(cleanup, hub, { name: "b1", key: "B" });

    const sequence = await servedSequence(hub.handler.keyAsChannel("A"), 20);
    expect(new Set(sequence)).toEqual(new Set(["a1", "a2"]));
    for (let i = 1; i < sequence.length; i++) {
      expect(sequence[i]).not.toBe(sequence[i - 1]);
    }
    // Another channel for the same key value shares the rotation and the tunnels.
    expect(new Set(await servedSequence(hub.handler.keyAsChannel("A"), 4))).toEqual(new Set(["a1", "a2"]));
    expect(await servedSequence(hub.handler.keyAsChannel("B"), 5)).toEqual(Array(5).fill("b1"));

    // Concurrent calls of every kind: spread evenly over A's two tunnels, none to B.
    const ch = hub.handler.keyAsChannel("A");
    const calls: Array<Promise<string>> = [];
    for (let i = 0; i < 10; i++) {
      calls.push(unaryCall(ch, TestService.method.unary, {}).then(servedBy));
      calls.push(clientStreamCall(ch, TestService.method.clientStream, requests(2)).then(servedBy));
      calls.push(drain(serverStreamCall(ch, TestService.method.serverStream, { count: 2 })).then((r) => servedBy(r[0])));
      calls.push(drain(bidiStreamCall(ch, TestService.method.bidiStream, requests(2))).then((r) => servedBy(r[0])));
    }
    const served = await Promise.all(calls);
    expect(served.filter((n) => n === "a1")).toHaveLength(20);
    expect(served.filter((n) => n === "a2")).toHaveLength(20);
  });

  it("asChannel spreads calls over every reverse tunnel in turn", async () => {
    const hub = await startHub(cleanup);
    for (const [name, key] of [
      ["a1", "A"],
      ["a2", "A"],
      ["b1", "B"],
    ]) {
      await connectAgent(cleanup, hub, { name, key });
    }
    const sequence = await servedSequence(hub.handler.asChannel(), 12);
    for (let i = 0; i + 3 <= sequence.length; i++) {
      expect(new Set(sequence.slice(i, i + 3)).size).toBe(3);
    }
  });

  it("compares keys by value: the number 7 and the string '7' are different keys", async () => {
    const hub = await startHub<string | number>(cleanup, {
      affinityKey: (t) => {
        const key = keyFromMetadata(t);
        return /^\d+$/.test(key) ? Number(key) : key;
      },
    });
    await connectAgent(cleanup, hub, { name: "n7", key: "7" });
    await connectAgent(cleanup, hub, { name: "s8", key: "eight" });
    expect(await servedSequence(hub.handler.keyAsChannel(7), 2)).toEqual(["n7", "n7"]);
    expect(await servedSequence(hub.handler.keyAsChannel(Number("7.0")), 1)).toEqual(["n7"]);
    expect(await servedSequence(hub.handler.keyAsChannel(["ei", "ght"].join("")), 1)).toEqual(["s8"]);
    expect(hub.handler.keyAsChannel("7").ready()).toBe(false);
    const res = await outcome(unaryCall(hub.handler.keyAsChannel("7"), TestService.method.unary, {}));
    expect(res.ok || res.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: 'no reverse tunnel for key "7"' });
  });

  it("fails every call kind with UNAVAILABLE naming the key when no tunnel matches", async () => {
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    const ch = hub.handler.keyAsChannel("nobody");
    const expected = { code: Code.UNAVAILABLE, rawMessage: 'no reverse tunnel for key "nobody"' };
    const results = await Promise.all([
      outcome(unaryCall(ch, TestService.method.unary, {})),
      outcome(clientStreamCall(ch, TestService.method.clientStream, requests(1))),
      outcome(drain(serverStreamCall(ch, TestService.method.serverStream, { count: 1 }))),
      outcome(drain(bidiStreamCall(ch, TestService.method.bidiStream, requests(1)))),
    ]);
    for (const res of results) {
      expect(res.ok).toBe(false);
      expect(res.ok || res.error).toBeInstanceOf(TunnelError);
      expect(res.ok || res.error).toMatchObject(expected);
    }
    expect(() => ch.startCall("/grpchantesting.TestService/Unary")).toThrow(expect.objectContaining(expected));

    const empty = await startHub(cleanup);
    const res = await outcome(unaryCall(empty.handler.asChannel(), TestService.method.unary, {}));
    expect(res.ok || res.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "no reverse tunnels are open" });
  });
});

type Kill = "agent stop()" | "agent abort signal" | "hub closes the tunnel";

describe("fail-over when a tunnel of a key goes away", () => {
  it.each<Kill>(["agent stop()", "agent abort signal", "hub closes the tunnel"])(
    "%s: new calls move to the other tunnel, none started after the close was observed fails",
    async (kill) => {
      let killObserved = false;
      const hub = await startHub(cleanup, {
        onReverseTunnelClose: (t) => {
          if (agentName(t) === "a1") {
            killObserved = true;
          }
        },
      });
      const a1 = await connectAgent(cleanup, hub, { name: "a1", key: "A" });
      await connectAgent(cleanup, hub, { name: "a2", key: "A" });
      await connectAgent(cleanup, hub, { name: "b1", key: "B" });
      const ch = hub.handler.keyAsChannel("A");

      interface Rec {
        afterKill: boolean;
        by?: string;
        code?: number;
      }
      const records = new EventLog<Rec>();
      let running = true;
      const loop = async (streaming: boolean) => {
        while (running) {
          const afterKill = killObserved;
          try {
            const by = streaming
              ? servedBy((await drain(serverStreamCall(ch, TestService.method.serverStream, { count: 3 })))[2])
              : servedBy(await unaryCall(ch, TestService.method.unary, {}));
            records.push({ afterKill, by });
          } catch (e) {
            records.push({ afterKill, code: codeOf(e) });
          }
        }
      };
      const loops = [loop(false), loop(false), loop(true), loop(true)];
      await records.waitForCount(40);

      if (kill === "agent stop()") {
        a1.rts.stop();
      } else if (kill === "agent abort signal") {
        a1.controller.abort();
      } else {
        a1.tunnel.close();
      }
      const result = await a1.serving;
      expect(result.started).toBe(true);
      expect(result.error?.code).toBe(kill === "agent abort signal" ? Code.CANCELLED : undefined);
      await hub.closedTunnelOf("a1");
      await records.waitForCount(100, (r) => r.afterKill);
      running = false;
      await Promise.all(loops);

      const before = records.items.filter((r) => !r.afterKill);
      const after = records.items.filter((r) => r.afterKill);
      expect(new Set(before.filter((r) => r.by).map((r) => r.by))).toEqual(new Set(["a1", "a2"]));
      for (const r of before.filter((r) => r.by === undefined)) {
        // Only calls already under way (or racing) when a1 went away may fail.
        expect([Code.UNAVAILABLE, Code.CANCELLED]).toContain(r.code);
      }
      expect(after.filter((r) => r.by !== "a2")).toEqual([]);
      expect(records.count((r) => r.by === "b1")).toBe(0);
      expect(hub.handler.allReverseTunnels().map(agentName).sort()).toEqual(["a2", "b1"]);
    },
  );

  it("a key whose last tunnel went away fails fast, and works again when an agent comes back", async () => {
    const hub = await startHub(cleanup);
    const first: Agent = await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    const ch = hub.handler.keyAsChannel("A");
    expect(await servedSequence(ch, 1)).toEqual(["a1"]);
    first.rts.stop();
    await hub.closedTunnelOf("a1");
    expect(ch.ready()).toBe(false);
    const res = await outcome(unaryCall(ch, TestService.method.unary, {}));
    expect(res.ok || res.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: 'no reverse tunnel for key "A"' });
    await connectAgent(cleanup, hub, { name: "a1-again", key: "A" });
    expect(ch.ready()).toBe(true);
    expect(await servedSequence(ch, 2)).toEqual(["a1-again", "a1-again"]);
  });
});

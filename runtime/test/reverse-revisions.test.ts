// Protocol revisions over reverse tunnels: revision 1 by default, revision 0
// when either side disables flow control or is a legacy peer that does not
// advertise negotiation. Checked on the wire with grpc-js interceptors.
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "../src/index.js";
import type { ReverseChannel } from "../src/protocol.js";
import { NEGOTIATE_HEADER, type ReverseTunnel } from "../src/protocol.js";
import { deferred } from "../src/deferred.js";
import { legacyClientInterceptor, legacyServerInterceptor } from "./support/legacy-peers.js";
import { recordFrames, type ReverseFrames } from "./support/reverse-wire.js";
import { connectAgent, drain, requests, servedBy, startHub, type AgentOptions, type HubOptions } from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const BIG = 150_000; // more than twice the 64 KiB window: revision 1 needs window updates, revision 0 must not
/** Both ends send chunks of at most 64 KiB, so BIG messages are chunked whatever the revision. */
const CHUNKED = { maxChunkBytes: 64 * 1024 };

interface Scenario {
  name: string;
  hub: HubOptions<string>;
  agent: Omit<AgentOptions, "name">;
  /** Frames the agent's first frame must be: Settings offering these revisions, or none. */
  settings: number[] | "none";
  revision: 0 | 1;
  /** Whether the hub (network server) saw the agent's advertisement. */
  hubSawAdvert: boolean;
}

const scenarios: Scenario[] = [
  { name: "default: both offer revision 1", hub: {}, agent: {}, settings: [0, 1], revision: 1, hubSawAdvert: true },
  {
    name: "network server disableFlowControl",
    hub: { disableFlowControl: true },
    agent: {},
    settings: [0, 1],
    revision: 0,
    hubSawAdvert: true,
  },
  {
    name: "agent disableFlowControl",
    hub: {},
    agent: { rts: { disableFlowControl: true } },
    settings: [0],
    revision: 0,
    hubSawAdvert: true,
  },
  {
    name: "legacy agent (no negotiation header)",
    hub: {},
    agent: { clientOptions: { interceptors: [legacyClientInterceptor] } },
    settings: "none",
    revision: 0,
    hubSawAdvert: false,
  },
  {
    name: "legacy network server (no negotiation header)",
    hub: { serverOptions: { interceptors: [legacyServerInterceptor] } },
    agent: {},
    settings: "none",
    revision: 0,
    hubSawAdvert: false,
  },
];

async function allKinds(ch: ReverseChannel, size: number): Promise<void> {
  const payload = new Uint8Array(size).fill(3);
  const [unary, client, server, bidi] = await Promise.all([
    unaryCall(ch, TestService.method.unary, { payload }),
    clientStreamCall(ch, TestService.method.clientStream, requests(3, size)),
    drain(serverStreamCall(ch, TestService.method.serverStream, { count: 3, payload })),
    drain(bidiStreamCall(ch, TestService.method.bidiStream, requests(3, size))),
  ]);
  expect([unary.payload.length, servedBy(unary)]).toEqual([size, "a1"]);
  expect([client.count, client.payload.length]).toEqual([3, size]);
  expect(server.map((r) => r.payload.length)).toEqual([size, size, size]);
  expect(bidi.map((r) => [r.count, r.payload.length])).toEqual([
    [1, size],
    [2, size],
    [3, size],
  ]);
}

describe("reverse tunnel protocol revisions", () => {
  it.each(scenarios)("$name", async (scenario) => {
    const frames: ReverseFrames = { sent: [], received: [] };
    const hub = await startHub(cleanup, { ...scenario.hub, limits: CHUNKED });
    const interceptors = [...(scenario.agent.clientOptions?.interceptors ?? []), recordFrames(frames)];
    const opened = deferred<ReverseTunnel>();
    const agent = await connectAgent(cleanup, hub, {
      ...scenario.agent,
      rts: { ...scenario.agent.rts, limits: CHUNKED },
      name: "a1",
      clientOptions: { ...scenario.agent.clientOptions, interceptors },
      serve: { onOpen: (t) => opened.resolve(t) },
    });
    // Without negotiation the hub registers the tunnel as its RPC arrives,
    // possibly before the agent has seen the response headers.
    const info = await opened.promise;

    expect(agent.tunnel.metadata.get(NEGOTIATE_HEADER)).toEqual(scenario.hubSawAdvert ? ["on"] : []);
    expect(agent.tunnel.protocolRevision).toBe(scenario.revision);
    expect(info.negotiated).toBe(scenario.settings !== "none");
    expect(info.offeredRevisions).toEqual(scenario.settings === "none" ? [] : scenario.settings);

    const ch = hub.handler.keyAsChannel("a1");
    await allKinds(ch, 10);
    await allKinds(ch, BIG);
    expect(info.protocolRevision).toBe(scenario.revision);

    const first = frames.sent[0];
    if (scenario.settings === "none") {
      expect(frames.sent.filter((f) => f.frame.case === "settings")).toEqual([]);
    } else {
      expect(first.frame.case).toBe("settings");
      expect(first.streamId).toBe(-1n);
      expect(first.frame.value).toMatchObject({ supportedProtocolRevisions: scenario.settings, initialWindowSize: 65_536 });
      expect(frames.sent.filter((f) => f.frame.case === "settings")).toHaveLength(1);
    }
    const newStreams = frames.received.flatMap((f) => (f.frame.case === "newStream" ? [f.frame.value] : []));
    expect(newStreams).toHaveLength(8);
    expect(new Set(newStreams.map((s) => s.protocolRevision))).toEqual(new Set([scenario.revision]));
    expect(newStreams.every((s) => s.initialWindowSize === 65_536)).toBe(true);

    const updatesIn = frames.received.filter((f) => f.frame.case === "windowUpdate").length;
    const updatesOut = frames.sent.filter((f) => f.frame.case === "windowUpdate").length;
    if (scenario.revision === 1) {
      expect(updatesIn).toBeGreaterThan(0);
      expect(updatesOut).toBeGreaterThan(0);
    } else {
      expect([updatesIn, updatesOut]).toEqual([0, 0]);
    }
    // Big messages were chunked (maxChunkBytes, 64 KiB) in both directions whatever the revision.
    const chunksOut = frames.sent.filter((f) => f.frame.case === "moreResponseData");
    const chunksIn = frames.received.filter((f) => f.frame.case === "moreRequestData");
    expect(chunksOut.length).toBeGreaterThan(0);
    expect(chunksIn.length).toBeGreaterThan(0);
    expect(Math.max(...chunksOut.map((f) => (f.frame.value as Uint8Array).length))).toBeLessThanOrEqual(CHUNKED.maxChunkBytes);
    expect(Math.max(...chunksIn.map((f) => (f.frame.value as Uint8Array).length))).toBeLessThanOrEqual(CHUNKED.maxChunkBytes);

    agent.rts.stop();
    expect(await agent.serving).toEqual({ started: true, error: undefined });
  });
});

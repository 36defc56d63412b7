// Data frames are encoded into buffers that are reused once grpc-js reports
// the frame written (transport/frame-buffers.ts). That is only correct if
// grpc-js has copied the bytes by then, on the server (synchronously) and on
// the client (in its compression filter, microtasks later). These tests
// push many concurrent streams of distinct payloads, in both directions,
// through real grpc-js servers and clients, and check every byte.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { TestService, testServiceImpl, type MessageSchema } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { bidiStreamCall, type CallChannel, type ServiceImpl } from "../src/index.js";
import type { TunnelLimits } from "../src/protocol.js";
import type { ClientToServer } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { OPEN_TUNNEL_PATH } from "../src/protocol/constants.js";
import { requestFrames, responseFrames } from "../src/protocol/frames.js";
import { dataFrameBound, encodeServerToClient } from "../src/protocol/frame-codec.js";
import { giveBack, leaseBuffer, takeLease } from "../src/transport/frame-buffers.js";
import { clientCallConn } from "../src/transport/grpc-conn.js";
import { deserializeServerToClient, serializeClientToServer, tunnelService } from "../src/transport/tunnel-service.js";
import { forwardFixture } from "./support/forward-fixture.js";
import { connectAgent, startHub } from "./support/reverse.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const echo: Partial<ServiceImpl<typeof TestService>> = {
  ...testServiceImpl,
  async *bidiStream(requests) {
    for await (const request of requests) yield { payload: request.payload };
  },
};

/** Sizes across the leased range: just over its lower bound, typical, several chunks' worth. */
const SIZES = [16 * 1024 + 1, 64 * 1024, 100_000, 300_000];

/** A payload no other (stream, index) pair has: its identity up front, then bytes from a seeded generator. */
function payloadOf(stream: number, index: number, size = SIZES[(stream + index) % SIZES.length]): Uint8Array {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, stream);
  view.setUint32(4, index);
  let seed = (stream * 7919 + index * 104_729 + 1) >>> 0;
  for (let i = 8; i < size; i++) {
    seed = (seed * 1_103_515_245 + 12_345) >>> 0;
    bytes[i] = seed >>> 24;
  }
  return bytes;
}

/** `streams` bidi echo calls at once, `messages` each; every echo must equal what was sent. */
async function echoAll(channel: CallChannel, streams: number, messages: number): Promise<void> {
  const calls = Array.from({ length: streams }, async (_, stream) => {
    async function* requests(): AsyncGenerator<MessageInitShape<typeof MessageSchema>> {
      for (let i = 0; i < messages; i++) yield { payload: payloadOf(stream, i) };
    }
    let index = 0;
    for await (const response of bidiStreamCall(channel, TestService.method.bidiStream, requests())) {
      const expected = payloadOf(stream, index);
      // One comparison, not toEqual: a mismatch names the message, not 300,000 bytes.
      const intact = Buffer.compare(Buffer.from(response.payload), Buffer.from(expected)) === 0;
      expect(intact, `stream ${stream}, message ${index}: echo differs from what was sent`).toBe(true);
      index++;
    }
    return index;
  });
  expect(await Promise.all(calls)).toEqual(Array(streams).fill(messages));
}

// First: the pool is still empty (each test file has its own modules).
describe("frame buffer leases", () => {
  const frame = () => responseFrames.envelope(1n, 40_000, new Uint8Array(40_000).fill(3));

  it("small frames get no lease; a lease is taken once; a buffer given back is leased again", () => {
    expect(leaseBuffer(responseFrames.envelope(1n, 100, new Uint8Array(100)), 132)).toBeUndefined();
    const first = frame();
    const buffer = leaseBuffer(first, dataFrameBound(first));
    expect(buffer).toBeDefined();
    expect(buffer!.length).toBeGreaterThanOrEqual(dataFrameBound(first));
    expect(takeLease(first)).toBe(buffer);
    expect(takeLease(first)).toBeUndefined();
    giveBack(first, buffer!);
    const second = frame();
    expect(leaseBuffer(second, dataFrameBound(second))).toBe(buffer);
    // Given back before the serializer ran: the frame no longer has it.
    giveBack(second, buffer!);
    expect(takeLease(second)).toBeUndefined();
  });

  it("a frame encoded into a lease has the same bytes as one encoded on its own", () => {
    const f = frame();
    const own = encodeServerToClient(f);
    const into = Buffer.alloc(dataFrameBound(f)).fill(0xee);
    const leased = encodeServerToClient(f, into);
    expect(leased.buffer).toBe(into.buffer);
    expect(Buffer.compare(leased, own)).toBe(0);
    // Too small a buffer is not used.
    const small = Buffer.alloc(100);
    expect(encodeServerToClient(f, small).buffer).not.toBe(small.buffer);
  });
});

describe("data frames encoded into reused buffers arrive intact", () => {
  const cases: Array<[string, { disableFlowControl?: boolean; limits?: Partial<TunnelLimits> }]> = [
    ["forward tunnel, revision 1", {}],
    ["forward tunnel, revision 0", { disableFlowControl: true }],
    // Messages in several frames: envelopes and continuation chunks both leased.
    ["forward tunnel, 20 KiB chunks", { limits: { maxChunkBytes: 20 * 1024 } }],
  ];
  for (const [name, tunnel] of cases) {
    it(name, async () => {
      const { tunnel: channel } = await forwardFixture(cleanup, {
        impl: echo,
        tunnel,
        handler: { limits: tunnel.limits },
      });
      await echoAll(channel, 12, 24);
    }, 60_000);
  }

  it("reverse tunnel: the hub (network server) sends requests, the agent (network client) the echoes", async () => {
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a", impl: echo });
    await echoAll(agent.tunnel, 12, 24);
  }, 60_000);

  it("two tunnels at once share the process's buffers", async () => {
    const one = await forwardFixture(cleanup, { impl: echo });
    const two = await forwardFixture(cleanup, { impl: echo, tunnel: { disableFlowControl: true } });
    await Promise.all([echoAll(one.tunnel, 6, 24), echoAll(two.tunnel, 6, 24)]);
  }, 60_000);
});

describe("frame buffers across tunnel RPCs", () => {
  it("frames written to several grpc-js client calls in one tick each arrive as written", async () => {
    // grpc-js's client copies a serialized frame a few microtasks after
    // serializing it: the client adapter leases no buffers (frame-buffers.ts
    // says why), and this guards that frames of calls written in one tick
    // arrive as written.
    const received = new Map<bigint, Uint8Array[]>();
    let frames = 0;
    let allIn: () => void = () => {};
    const done = new Promise<void>((resolve) => (allIn = resolve));
    const calls = 4;
    const perCall = 16;
    const WARM_UP = 99n;
    const server = await startServer((s) =>
      s.addService(
        ...tunnelService(
          (call) => {
            call.on("data", (frame: ClientToServer) => {
              if (frame.frame.case === "requestMessage" && frame.streamId !== WARM_UP) {
                // A copy: the bytes are a view of grpc-js's buffer.
                received.set(frame.streamId, [...(received.get(frame.streamId) ?? []), new Uint8Array(frame.frame.value.data)]);
                if (++frames === calls * perCall) allIn();
              }
            });
            call.on("end", () => call.end());
          },
          (call) => call.end(),
        ),
      ),
    );
    cleanup.add(() => server.kill());
    const client = tunnelClient(server.address);
    cleanup.add(() => client.close());
    const conns = Array.from({ length: calls }, () => {
      const call = client.makeBidiStreamRequest(OPEN_TUNNEL_PATH, serializeClientToServer, deserializeServerToClient);
      cleanup.add(() => call.cancel());
      return clientCallConn(call);
    });
    // Once a call is under way grpc-js serializes a frame inside write()
    // (and copies it later); before, it serializes later too. So each call
    // first gets a small frame through.
    await Promise.all(
      conns.map((conn) => new Promise<void>((sent) => conn.write(requestFrames.envelope(WARM_UP, 1, new Uint8Array(1)), sent))),
    );
    // Stream ID = call number: each call's frames carry their own.
    for (let i = 0; i < perCall; i++) {
      conns.forEach((conn, c) => {
        // One size for all: each call can lease the buffer another just used.
        const data = payloadOf(c, i, 64 * 1024);
        conn.write(requestFrames.envelope(BigInt(c + 1), data.length, data), () => {});
      });
    }
    await done;
    for (let c = 0; c < calls; c++) {
      const got = received.get(BigInt(c + 1)) ?? [];
      expect(got.length).toBe(perCall);
      for (const [i, data] of got.entries()) {
        expect(Buffer.compare(data, payloadOf(c, i, 64 * 1024)), `call ${c}, frame ${i}`).toBe(0);
      }
    }
  });
});

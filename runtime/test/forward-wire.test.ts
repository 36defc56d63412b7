import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { MessageSchema, TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, TunnelServiceHandler, type TunnelServiceHandlerOptions } from "../src/index.js";
import { ProtocolRevision, type ServerToClient } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";
import { deferred } from "./support/forward-fixture.js";
import { c2s, RawTunnel } from "./support/raw-tunnel.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const UNARY = "/grpchantesting.TestService/Unary";
const SERVER_STREAM = "/grpchantesting.TestService/ServerStream";
const CLIENT_STREAM = "/grpchantesting.TestService/ClientStream";

async function rawTunnel(options: { negotiate?: boolean; handler?: TunnelServiceHandlerOptions; parkClientStream?: Promise<void> } = {}) {
  const handler = new TunnelServiceHandler(options.handler);
  const park = options.parkClientStream;
  handler.registerService(TestService, {
    ...testServiceImpl,
    ...(park
      ? {
          clientStream: async () => {
            await park;
            return {};
          },
        }
      : {}),
  });
  const srv = await startServer((s) => s.addService(...handler.service()));
  cleanup.add(() => srv.kill());
  const client = tunnelClient(srv.address);
  cleanup.add(() => client.close());
  const raw = new RawTunnel(client, { negotiate: options.negotiate ?? true });
  cleanup.add(() => raw.call.cancel());
  return raw;
}

function encode(init: Parameters<typeof create<typeof MessageSchema>>[1]): Uint8Array {
  return toBinary(MessageSchema, create(MessageSchema, init));
}

/** Sends one message as an envelope plus continuation chunks of at most 16 KiB. */
function sendMessage(raw: RawTunnel, id: bigint, bytes: Uint8Array): void {
  raw.send(c2s.message(id, bytes.length, bytes.subarray(0, 16_384)));
  for (let offset = 16_384; offset < bytes.length; offset += 16_384) {
    raw.send(c2s.more(id, bytes.subarray(offset, offset + 16_384)));
  }
}

function sendUnary(raw: RawTunnel, id: bigint, payload = new Uint8Array([1])): void {
  raw.send(c2s.newStream(id, UNARY));
  sendMessage(raw, id, encode({ payload }));
  raw.send(c2s.halfClose(id));
}

const closeOf = (f: ServerToClient) => (f.frame.case === "closeStream" ? f.frame.value : undefined);
const isClose = (id: bigint) => (f: ServerToClient) => f.streamId === id && f.frame.case === "closeStream";

describe("wire: negotiation", () => {
  it("sends Settings first, with stream ID -1, when the client advertised negotiation", async () => {
    const raw = await rawTunnel();
    expect((await raw.headers).get("grpctunnel-negotiate")).toEqual(["on"]);
    const first = await raw.waitFor(() => true);
    expect(first.streamId).toBe(-1n);
    expect(first.frame.case).toBe("settings");
    expect(first.frame.value).toMatchObject({ supportedProtocolRevisions: [0, 1], initialWindowSize: 65_536 });
  });

  it("offers revision 0 only when flow control is disabled", async () => {
    const raw = await rawTunnel({ handler: { disableFlowControl: true } });
    const first = await raw.waitFor(() => true);
    expect(first.frame.value).toMatchObject({ supportedProtocolRevisions: [0] });
  });

  it("sends no Settings when the client did not advertise (but still sends the header at once)", async () => {
    const raw = await rawTunnel({ negotiate: false });
    expect((await raw.headers).get("grpctunnel-negotiate")).toEqual(["on"]);
    sendUnary(raw, 1n, new Uint8Array([9]));
    await raw.waitFor(isClose(1n));
    expect(raw.received.some((f) => f.frame.case === "settings")).toBe(false);
    expect(raw.received[0].streamId).toBe(1n);
  });
});

describe("wire: chunking and flow control", () => {
  for (const [name, limits, expected] of [
    ["with maxChunkBytes 16 KiB (Go's chunk size)", { maxChunkBytes: 16_384 }, [10_000, 16_384, 13_616]],
    ["by default (64 KiB chunks)", {}, [10_000, 30_000]],
  ] as const) {
    it(`${name}, never sends chunks above maxChunkBytes or above the client's window, and resumes on window_update`, async () => {
      const raw = await rawTunnel({ handler: { limits } });
      const request = encode({ payload: new Uint8Array(40_000), count: 2 });
      const small = c2s.newStream(1n, SERVER_STREAM);
      if (small.frame.case === "newStream") small.frame.value.initialWindowSize = 10_000;
      raw.send(small);
      sendMessage(raw, 1n, request);
      raw.send(c2s.halfClose(1n));
      const dataSizes = () =>
        raw
          .framesOf(1n)
          .flatMap(({ frame }) =>
            frame.case === "responseMessage" ? [frame.value.data.length] : frame.case === "moreResponseData" ? [frame.value.length] : [],
          );
      const total = () => dataSizes().reduce((a, b) => a + b, 0);
      // With a 10,000-byte window the server sends exactly that, then waits.
      await raw.waitFor(() => total() === 10_000);
      raw.send(c2s.windowUpdate(1n, 30_000));
      await raw.waitFor(() => total() === 40_000);
      expect(dataSizes()).toEqual(expected);
      raw.send(c2s.windowUpdate(1n, 100_000));
      await raw.waitFor(isClose(1n));
      expect(Math.max(...dataSizes())).toBe(limits.maxChunkBytes ?? 40_004);
      expect(total()).toBe(2 * 40_004);
    });
  }

  it("fails a stream whose client overruns the window with RESOURCE_EXHAUSTED; the tunnel stays up", async () => {
    const never = deferred();
    const raw = await rawTunnel({ parkClientStream: never.promise });
    raw.send(c2s.newStream(1n, CLIENT_STREAM));
    const chunk = new Uint8Array(16_384);
    for (let i = 0; i < 5; i++) {
      raw.send(c2s.message(1n, chunk.length, chunk)); // 81,920 bytes > 65,536
    }
    const close = closeOf(await raw.waitFor(isClose(1n)));
    expect(close?.status).toMatchObject({ code: Code.RESOURCE_EXHAUSTED, message: "flow control window exceeded" });
    sendUnary(raw, 2n);
    expect(closeOf(await raw.waitFor(isClose(2n)))?.status).toBeUndefined();
  });

  it("accepts a 65,536-byte chunk into a fresh 64 KiB window and refuses 65,537 bytes with RESOURCE_EXHAUSTED, as Go does", async () => {
    const raw = await rawTunnel();
    const fits = encode({ payload: new Uint8Array(65_532).fill(3) });
    expect(fits.length).toBe(65_536);
    for (const frame of [
      c2s.newStream(1n, UNARY),
      c2s.message(1n, fits.length, fits),
      c2s.halfClose(1n),
      c2s.windowUpdate(1n, 1_000_000),
    ]) {
      raw.send(frame);
    }
    expect(closeOf(await raw.waitFor(isClose(1n)))?.status).toBeUndefined();
    raw.send(c2s.newStream(2n, UNARY));
    raw.send(c2s.message(2n, 65_537, new Uint8Array(65_537)));
    const close = closeOf(await raw.waitFor(isClose(2n)));
    expect(close?.status).toMatchObject({ code: Code.RESOURCE_EXHAUSTED, message: "flow control window exceeded" });
  });

  it("accepts a 1 MiB message as one chunk on a revision-0 stream, as Go does", async () => {
    const raw = await rawTunnel();
    const bytes = encode({ payload: new Uint8Array(1_048_572).fill(4) });
    expect(bytes.length).toBe(1_048_576);
    raw.send(c2s.newStream(1n, UNARY, ProtocolRevision.REVISION_ZERO));
    raw.send(c2s.message(1n, bytes.length, bytes));
    raw.send(c2s.halfClose(1n));
    expect(closeOf(await raw.waitFor(isClose(1n)))?.status).toBeUndefined();
    const echoed = raw
      .framesOf(1n)
      .flatMap(({ frame }) =>
        frame.case === "responseMessage" ? [frame.value.data] : frame.case === "moreResponseData" ? [frame.value] : [],
      );
    const response = fromBinary(MessageSchema, Buffer.concat(echoed));
    expect(Buffer.compare(response.payload, new Uint8Array(1_048_572).fill(4))).toBe(0);
  });
});

describe("wire: stream IDs and stream states", () => {
  for (const [name, second] of [
    ["a reused stream ID", 5n],
    ["a lower stream ID", 3n],
  ] as const) {
    it(`ends the tunnel with a protocol error on ${name}`, async () => {
      const raw = await rawTunnel();
      sendUnary(raw, 5n);
      await raw.waitFor(isClose(5n));
      raw.send(c2s.newStream(second, UNARY));
      const status = await raw.status;
      expect(status.code).toBe(Code.INTERNAL);
      expect(status.details).toMatch(/protocol error: cannot create stream ID \d+: that ID has already been used/);
    });
  }

  it("ends the tunnel with a protocol error on a frame for a stream never created", async () => {
    const raw = await rawTunnel();
    raw.send(c2s.halfClose(7n));
    const status = await raw.status;
    expect(status.code).toBe(Code.INTERNAL);
    expect(status.details).toContain("stream ID 7: stream never created");
  });

  it("ignores frames for streams that already finished", async () => {
    const raw = await rawTunnel();
    sendUnary(raw, 1n);
    await raw.waitFor(isClose(1n));
    const before = raw.received.length;
    raw.send(c2s.message(1n, 1, new Uint8Array([1])));
    raw.send(c2s.windowUpdate(1n, 100));
    raw.send(c2s.cancel(1n));
    raw.send(c2s.halfClose(1n));
    sendUnary(raw, 2n, new Uint8Array([42]));
    const reply = await raw.waitFor((f) => f.streamId === 2n && f.frame.case === "responseMessage");
    expect(reply.frame.case === "responseMessage" && fromBinary(MessageSchema, reply.frame.value.data).payload).toEqual(
      new Uint8Array([42]),
    );
    await raw.waitFor(isClose(2n));
    expect(raw.framesOf(1n).length).toBe(before - 1); // settings + stream 1's frames, nothing new for 1
  });

  it("rejects bad streams with a CloseStream only (no headers) and keeps the tunnel", async () => {
    const raw = await rawTunnel();
    raw.send(c2s.newStream(1n, ""));
    raw.send(c2s.newStream(2n, "no-slash"));
    raw.send(c2s.newStream(3n, "/grpchantesting.TestService/Nope"));
    raw.send(c2s.newStream(4n, UNARY, 7 as ProtocolRevision));
    for (const [id, code] of [
      [1n, Code.INVALID_ARGUMENT],
      [2n, Code.INVALID_ARGUMENT],
      [3n, Code.UNIMPLEMENTED],
      [4n, Code.UNAVAILABLE],
    ] as const) {
      expect(closeOf(await raw.waitFor(isClose(id)))?.status?.code).toBe(code);
      expect(raw.framesOf(id).map((f) => f.frame.case)).toEqual(["closeStream"]);
    }
    expect(closeOf(raw.framesOf(3n)[0])?.status?.message).toBe("grpchantesting.TestService/Nope not implemented");
    sendUnary(raw, 5n);
    expect(closeOf(await raw.waitFor(isClose(5n)))?.status).toBeUndefined();
  });

  it("answers a second request on a unary call with INVALID_ARGUMENT", async () => {
    const raw = await rawTunnel();
    const bytes = encode({ payload: new Uint8Array([1]) });
    raw.send(c2s.newStream(1n, UNARY));
    raw.send(c2s.message(1n, bytes.length, bytes));
    raw.send(c2s.message(1n, bytes.length, bytes));
    raw.send(c2s.halfClose(1n));
    const close = closeOf(await raw.waitFor(isClose(1n)));
    expect(close?.status?.code).toBe(Code.INVALID_ARGUMENT);
    expect(raw.framesOf(1n).some((f) => f.frame.case === "responseMessage")).toBe(false);
  });

  it("answers cancel with CANCELLED", async () => {
    const raw = await rawTunnel();
    const bytes = encode({ delayMillis: 10_000, count: 1 });
    raw.send(c2s.newStream(1n, SERVER_STREAM));
    raw.send(c2s.message(1n, bytes.length, bytes));
    raw.send(c2s.halfClose(1n));
    raw.send(c2s.cancel(1n));
    expect(closeOf(await raw.waitFor(isClose(1n)))?.status?.code).toBe(Code.CANCELLED);
  });

  it("a revision-0 stream on a negotiated tunnel works too (the Go server accepts it)", async () => {
    const raw = await rawTunnel();
    const bytes = encode({ payload: new Uint8Array(50_000) });
    raw.send(c2s.newStream(1n, UNARY, ProtocolRevision.REVISION_ZERO));
    sendMessage(raw, 1n, bytes);
    raw.send(c2s.halfClose(1n));
    expect(closeOf(await raw.waitFor(isClose(1n)))?.status).toBeUndefined();
    expect(raw.framesOf(1n).some((f) => f.frame.case === "windowUpdate")).toBe(false);
  });
});

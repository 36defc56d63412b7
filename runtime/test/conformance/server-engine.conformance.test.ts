import { fromBinary } from "@bufbuild/protobuf";
import { MessageSchema } from "@protoc-gen-tunnel/interop";
import { describe, expect, it } from "vitest";
import { Code } from "../../src/code.js";
import { c2s, emptyClientFrame, sameBytes } from "../support/frames.js";
import { CLIENT_STREAM, ProtocolRevision, SERVER_STREAM, serverUnderTest, testMessage, UNARY } from "./harness.js";
import { readmeRows } from "./readme.js";

type Server = ReturnType<typeof serverUnderTest>;

export interface ConformanceCase {
  id: string;
  misbehaviour: string;
  /** The outcome, exactly as the README table states it. */
  expected: string;
  run(): Promise<void>;
}

const tunnelEnds = (code: Code, pattern: RegExp) => async (server: Server) => {
  const error = await server.tunnelError();
  expect(error?.code).toBe(code);
  expect(error?.rawMessage).toMatch(pattern);
};

const streamCloses = (id: bigint, code: Code, pattern: RegExp) => async (server: Server) => {
  const close = await server.closeOf(id);
  expect(close.status?.code).toBe(code);
  expect(close.status?.message).toMatch(pattern);
  expect(server.conn.abortedWith).toBeUndefined();
};

/** Opens stream `id` for a client-streaming call whose handler reads nothing yet. */
function openClientStream(server: Server, id = 1n): void {
  server.send(c2s.newStream(id, CLIENT_STREAM));
}

function completeUnary(server: Server, id: bigint): void {
  const bytes = testMessage({ payload: new Uint8Array([1]) });
  server.send(c2s.newStream(id, UNARY), c2s.message(id, bytes.length, bytes), c2s.halfClose(id));
}

const chunk16k = new Uint8Array(16_384);

/** The one response the server sent on stream `id`, reassembled from its chunks and decoded. */
function responseOf(server: Server, id: bigint) {
  const chunks = server
    .framesOf(id)
    .flatMap(({ frame }) =>
      frame.case === "responseMessage" ? [frame.value.data] : frame.case === "moreResponseData" ? [frame.value] : [],
    );
  return fromBinary(MessageSchema, Buffer.concat(chunks));
}

export const serverCases: ConformanceCase[] = [
  {
    id: "S01",
    misbehaviour: "frame for a stream ID never opened",
    expected: "tunnel ends: INTERNAL `protocol error: … stream never created`",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.message(9n, 1, new Uint8Array([1])));
      await tunnelEnds(Code.INTERNAL, /^protocol error: received requestMessage frame for stream ID 9: stream never created$/)(server);
    },
  },
  {
    id: "S02",
    misbehaviour: "`NewStream` with a reused ID (stream finished)",
    expected: "tunnel ends: INTERNAL `protocol error: cannot create stream ID N: that ID has already been used`",
    async run() {
      const server = serverUnderTest();
      completeUnary(server, 4n);
      await server.closeOf(4n);
      server.send(c2s.newStream(4n, UNARY));
      await tunnelEnds(Code.INTERNAL, /that ID has already been used/)(server);
    },
  },
  {
    id: "S03",
    misbehaviour: "`NewStream` with a lower ID than one seen",
    expected: "tunnel ends: INTERNAL `protocol error: cannot create stream ID N: that ID has already been used`",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.newStream(5n, CLIENT_STREAM), c2s.newStream(2n, UNARY));
      await tunnelEnds(Code.INTERNAL, /cannot create stream ID 2: that ID has already been used/)(server);
    },
  },
  {
    id: "S04",
    misbehaviour: "second `NewStream` for a live ID",
    expected: "tunnel ends: INTERNAL `protocol error: cannot create stream ID N: already exists`",
    async run() {
      const server = serverUnderTest();
      openClientStream(server);
      server.send(c2s.newStream(1n, UNARY));
      await tunnelEnds(Code.INTERNAL, /cannot create stream ID 1: already exists/)(server);
    },
  },
  {
    id: "S05",
    misbehaviour: "message data before `NewStream`",
    expected: "tunnel ends: INTERNAL `protocol error: … stream never created`",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.message(1n, 1, new Uint8Array([1])), c2s.newStream(1n, UNARY));
      await tunnelEnds(Code.INTERNAL, /stream ID 1: stream never created/)(server);
    },
  },
  {
    id: "S06",
    misbehaviour: "`more_request_data` without an envelope",
    expected: "stream closed: INVALID_ARGUMENT `never received envelope for request message`",
    async run() {
      const server = serverUnderTest();
      openClientStream(server);
      server.send(c2s.more(1n, new Uint8Array([1])));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /^never received envelope for request message$/)(server);
    },
  },
  {
    id: "S07",
    misbehaviour: "more data than the envelope's `size`",
    expected: "stream closed: INVALID_ARGUMENT `received more request data than indicated by message envelope`",
    async run() {
      const server = serverUnderTest();
      openClientStream(server);
      server.send(c2s.message(1n, 3, new Uint8Array([1, 2])), c2s.more(1n, new Uint8Array([3, 4])));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /^received more request data than indicated by message envelope$/)(server);
    },
  },
  {
    id: "S08",
    misbehaviour: "new envelope before the previous message is complete",
    expected: "stream closed: INVALID_ARGUMENT `received request message envelope before previous message finished …`",
    async run() {
      const server = serverUnderTest();
      openClientStream(server);
      server.send(c2s.message(1n, 10, new Uint8Array([1])), c2s.message(1n, 1, new Uint8Array([1])));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /^received request message envelope before previous message finished/)(server);
    },
  },
  {
    id: "S09",
    misbehaviour: "a chunk over 16,384 bytes that fits the window: 65,536 bytes into a fresh 64 KiB window",
    expected: "accepted, as in Go: the message reaches the handler",
    async run() {
      const server = serverUnderTest();
      openClientStream(server);
      const bytes = testMessage({ payload: new Uint8Array(65_532).fill(7) });
      expect(bytes.length).toBe(65_536);
      // The handler echoes the payload: credit for the response too.
      server.send(c2s.message(1n, bytes.length, bytes), c2s.halfClose(1n), c2s.windowUpdate(1n, 100_000));
      expect((await server.closeOf(1n)).status).toBeUndefined();
      const response = responseOf(server, 1n);
      expect(response.count).toBe(1);
      expect(sameBytes(response.payload, new Uint8Array(65_532).fill(7))).toBe(true);
    },
  },
  {
    id: "S10",
    misbehaviour: "data beyond the stream's window (revision 1), in one chunk (65,537 bytes into a fresh 64 KiB window) or several",
    expected: "stream closed: RESOURCE_EXHAUSTED `flow control window exceeded`",
    async run() {
      const server = serverUnderTest();
      openClientStream(server, 1n);
      server.send(c2s.message(1n, 65_537, new Uint8Array(65_537)));
      await streamCloses(1n, Code.RESOURCE_EXHAUSTED, /^flow control window exceeded$/)(server);
      openClientStream(server, 2n);
      server.send(c2s.message(2n, 100_000, chunk16k));
      for (let i = 0; i < 4; i++) server.send(c2s.more(2n, chunk16k));
      await streamCloses(2n, Code.RESOURCE_EXHAUSTED, /^flow control window exceeded$/)(server);
    },
  },
  {
    id: "S11",
    misbehaviour: "`window_update` overflowing 2^32-1",
    expected: "stream closed: INVALID_ARGUMENT `protocol error: window update overflows the send window`",
    async run() {
      const server = serverUnderTest();
      openClientStream(server);
      server.send(c2s.windowUpdate(1n, 0xffff_ffff));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /window update overflows the send window/)(server);
    },
  },
  {
    id: "S12",
    misbehaviour: "unknown frame (empty oneof) on a live stream",
    expected: "stream closed: INVALID_ARGUMENT `protocol error: unrecognized frame type`",
    async run() {
      const server = serverUnderTest();
      openClientStream(server);
      server.send(emptyClientFrame(1n));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /^protocol error: unrecognized frame type$/)(server);
    },
  },
  {
    id: "S13",
    misbehaviour: "a frame that is not valid protobuf",
    expected: "tunnel ends: INTERNAL `protocol error: undecodable frame: …`",
    async run() {
      const server = serverUnderTest();
      server.send({ undecodable: "premature EOF" });
      await tunnelEnds(Code.INTERNAL, /^protocol error: undecodable frame: premature EOF$/)(server);
    },
  },
  {
    id: "S14",
    misbehaviour: "a second request on a unary call",
    expected: "stream closed: INVALID_ARGUMENT `Already received request for non-client-stream method …`",
    async run() {
      const server = serverUnderTest();
      const bytes = testMessage();
      server.send(c2s.newStream(1n, UNARY), c2s.message(1n, bytes.length, bytes), c2s.message(1n, bytes.length, bytes), c2s.halfClose(1n));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /^Already received request for non-client-stream method/)(server);
    },
  },
  {
    id: "S15",
    misbehaviour: "messages after `half_close`",
    expected: "dropped; the call completes OK with what came before",
    async run() {
      const server = serverUnderTest();
      const bytes = testMessage({ payload: new Uint8Array([7]) });
      server.send(c2s.newStream(1n, UNARY), c2s.message(1n, bytes.length, bytes), c2s.halfClose(1n), c2s.message(1n, bytes.length, bytes));
      const close = await server.closeOf(1n);
      expect(close.status).toBeUndefined();
      expect(server.framesOf(1n).filter((f) => f.frame.case === "responseMessage")).toHaveLength(1);
    },
  },
  {
    id: "S16",
    misbehaviour: "`cancel` of a stream that never existed",
    expected: "tunnel ends: INTERNAL `protocol error: … stream never created`",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.cancel(3n));
      await tunnelEnds(Code.INTERNAL, /received cancel frame for stream ID 3: stream never created/)(server);
    },
  },
  {
    id: "S17",
    misbehaviour: "`cancel` (or any frame) of a stream that already finished",
    expected: "ignored",
    async run() {
      const server = serverUnderTest();
      completeUnary(server, 1n);
      await server.closeOf(1n);
      server.send(c2s.cancel(1n), c2s.windowUpdate(1n, 5), c2s.halfClose(1n));
      completeUnary(server, 2n);
      expect((await server.closeOf(2n)).status).toBeUndefined();
      expect(server.engine.closed).toBe(false);
    },
  },
  {
    id: "S18",
    misbehaviour: "garbage protobuf as a request message",
    expected: "stream closed: INTERNAL `failed to parse grpchantesting.Message: …`",
    async run() {
      const server = serverUnderTest();
      const garbage = new Uint8Array([0xff, 0xff, 0xff]);
      server.send(c2s.newStream(1n, UNARY), c2s.message(1n, garbage.length, garbage), c2s.halfClose(1n));
      await streamCloses(1n, Code.INTERNAL, /^failed to parse grpchantesting\.Message: /)(server);
    },
  },
  {
    id: "S19",
    misbehaviour: "`half_close` in the middle of a message",
    expected: "stream closed: INVALID_ARGUMENT `request stream half-closed in the middle of a message`",
    async run() {
      const server = serverUnderTest();
      openClientStream(server);
      server.send(c2s.message(1n, 10, new Uint8Array([1])), c2s.halfClose(1n));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /^request stream half-closed in the middle of a message$/)(server);
    },
  },
  {
    id: "S20",
    misbehaviour: "unknown protocol revision in `NewStream`",
    expected: "stream closed: UNAVAILABLE `server does not support protocol revision N`",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.newStream(1n, UNARY, 9 as ProtocolRevision));
      await streamCloses(1n, Code.UNAVAILABLE, /^server does not support protocol revision 9$/)(server);
    },
  },
  {
    id: "S21",
    misbehaviour: "revision 1 requested when flow control is disabled",
    expected: "stream closed: UNAVAILABLE `server does not support protocol revision 1`",
    async run() {
      const server = serverUnderTest({ flowControl: false });
      server.send(c2s.newStream(1n, UNARY, ProtocolRevision.REVISION_ONE));
      await streamCloses(1n, Code.UNAVAILABLE, /^server does not support protocol revision 1$/)(server);
    },
  },
  {
    id: "S22",
    misbehaviour: "empty or malformed method name",
    expected: 'stream closed: INVALID_ARGUMENT `"…" is not a well-formed method name`',
    async run() {
      const server = serverUnderTest();
      server.send(c2s.newStream(1n, ""), c2s.newStream(2n, "/svc"), c2s.newStream(3n, "/svc/"));
      for (const id of [1n, 2n, 3n]) {
        await streamCloses(id, Code.INVALID_ARGUMENT, /is not a well-formed method name$/)(server);
      }
    },
  },
  {
    id: "S23",
    misbehaviour: "method not registered",
    expected: "stream closed: UNIMPLEMENTED `pkg.Service/Method not implemented`",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.newStream(1n, "/pkg.Service/Method"));
      await streamCloses(1n, Code.UNIMPLEMENTED, /^pkg\.Service\/Method not implemented$/)(server);
    },
  },
  {
    id: "S24",
    misbehaviour: "malformed `grpc-timeout`",
    expected: "stream closed: INVALID_ARGUMENT `malformed grpc-timeout header …`",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.newStream(1n, UNARY, ProtocolRevision.REVISION_ONE, { "grpc-timeout": "soon" }));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /^malformed grpc-timeout header "soon"$/)(server);
    },
  },
  {
    id: "S25",
    misbehaviour: "metadata key grpc-js cannot represent (e.g. upper case)",
    expected: "stream closed: INVALID_ARGUMENT `invalid metadata from peer: …`",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.newStream(1n, UNARY, ProtocolRevision.REVISION_ONE, { "Bad Key": "x" }));
      await streamCloses(1n, Code.INVALID_ARGUMENT, /^invalid metadata from peer: /)(server);
    },
  },
  {
    id: "S26",
    misbehaviour: "request metadata over `maxMetadataBytes`",
    expected: "stream closed: RESOURCE_EXHAUSTED `metadata of N bytes is larger than the limit of M bytes`",
    async run() {
      const server = serverUnderTest({ limits: { maxMetadataBytes: 100 } });
      server.send(c2s.newStream(1n, UNARY, ProtocolRevision.REVISION_ONE, { "x-big": "v".repeat(200) }));
      await streamCloses(1n, Code.RESOURCE_EXHAUSTED, /^metadata of 237 bytes is larger than the limit of 100 bytes$/)(server);
    },
  },
  {
    id: "S27",
    misbehaviour: "message over `maxReceiveMessageBytes`",
    expected: "stream closed: RESOURCE_EXHAUSTED `request message larger than max (N vs. M)`",
    async run() {
      const server = serverUnderTest({ limits: { maxReceiveMessageBytes: 1_000 } });
      openClientStream(server);
      server.send(c2s.message(1n, 1_001, new Uint8Array(10)));
      await streamCloses(1n, Code.RESOURCE_EXHAUSTED, /^request message larger than max \(1001 vs\. 1000\)$/)(server);
    },
  },
  {
    id: "S28",
    misbehaviour: "more concurrent streams than `maxConcurrentStreams`",
    expected: "stream closed: RESOURCE_EXHAUSTED `too many concurrent streams on this tunnel (limit N)`",
    async run() {
      const server = serverUnderTest({ limits: { maxConcurrentStreams: 2 } });
      server.send(c2s.newStream(1n, CLIENT_STREAM), c2s.newStream(2n, CLIENT_STREAM), c2s.newStream(3n, SERVER_STREAM));
      await streamCloses(3n, Code.RESOURCE_EXHAUSTED, /^too many concurrent streams on this tunnel \(limit 2\)$/)(server);
    },
  },
  {
    id: "S29",
    misbehaviour: "too much unread data on a revision-0 stream",
    expected: "stream closed: RESOURCE_EXHAUSTED `more than N unread request bytes buffered for a stream without flow control`",
    async run() {
      const server = serverUnderTest({ limits: { maxReceiveMessageBytes: 16_384, maxBufferedBytesPerStream: 40_000 } });
      server.send(c2s.newStream(1n, CLIENT_STREAM, ProtocolRevision.REVISION_ZERO));
      for (let i = 0; i < 3; i++) server.send(c2s.message(1n, chunk16k.length, chunk16k));
      await streamCloses(1n, Code.RESOURCE_EXHAUSTED, /^more than 40000 unread request bytes buffered/)(server);
    },
  },
  {
    id: "S30",
    misbehaviour: "a 1 MiB message in one chunk on a revision-0 stream",
    expected: "accepted, as in Go: the message reaches the handler",
    async run() {
      const server = serverUnderTest();
      server.send(c2s.newStream(1n, CLIENT_STREAM, ProtocolRevision.REVISION_ZERO));
      const bytes = testMessage({ payload: new Uint8Array(1_048_572).fill(9) });
      expect(bytes.length).toBe(1_048_576);
      server.send(c2s.message(1n, bytes.length, bytes), c2s.halfClose(1n));
      expect((await server.closeOf(1n)).status).toBeUndefined();
      const response = responseOf(server, 1n);
      expect(response.count).toBe(1);
      expect(sameBytes(response.payload, new Uint8Array(1_048_572).fill(9))).toBe(true);
    },
  },
  {
    id: "S31",
    misbehaviour: "`NewStream` while the tunnel's memory is at `maxTunnelMemoryBytes`",
    expected: "stream closed: RESOURCE_EXHAUSTED `memory limit maxTunnelMemoryBytes (N bytes) reached`",
    async run() {
      // Each open stream holds ~4.5 KB (the stream and its metadata).
      const server = serverUnderTest({ limits: { maxTunnelMemoryBytes: 10_000 } });
      openClientStream(server, 1n);
      openClientStream(server, 2n);
      openClientStream(server, 3n);
      await streamCloses(3n, Code.RESOURCE_EXHAUSTED, /^memory limit maxTunnelMemoryBytes \(10000 bytes\) reached$/)(server);
      expect(server.framesOf(1n)).toEqual([]);
    },
  },
  {
    id: "S32",
    misbehaviour: "request data beyond `maxTunnelMemoryBytes` (unread, revision 0)",
    expected: "stream closed: RESOURCE_EXHAUSTED `memory limit maxTunnelMemoryBytes (N bytes) reached`",
    async run() {
      const server = serverUnderTest({ limits: { maxTunnelMemoryBytes: 64 * 1024 }, handlers: { "test.Stalled/Read": stalled } });
      server.send(c2s.newStream(1n, "test.Stalled/Read", ProtocolRevision.REVISION_ZERO));
      for (let i = 0; i < 4; i++) server.send(c2s.message(1n, chunk16k.length, chunk16k));
      await streamCloses(1n, Code.RESOURCE_EXHAUSTED, /^memory limit maxTunnelMemoryBytes \(65536 bytes\) reached$/)(server);
      expect(server.engine.memory.used).toBeLessThan(8 * 1024); // released with the stream
    },
  },
  {
    id: "S33",
    misbehaviour: "a stream that sends nothing (no message, no half-close) for `idleStreamTimeoutMs`",
    expected: "stream closed: DEADLINE_EXCEEDED `no request message or half-close within N ms of the call's start (idleStreamTimeoutMs)`",
    async run() {
      const server = serverUnderTest({ limits: { idleStreamTimeoutMs: 50 }, handlers: { "test.Stalled/Read": stalled } });
      server.send(c2s.newStream(1n, "test.Stalled/Read"), c2s.newStream(2n, "test.Stalled/Read"), c2s.halfClose(2n));
      await streamCloses(
        1n,
        Code.DEADLINE_EXCEEDED,
        /^no request message or half-close within 50 ms of the call's start \(idleStreamTimeoutMs\)$/,
      )(server);
      expect(server.framesOf(2n)).toEqual([]); // it half-closed: not idle
    },
  },
  {
    id: "S34",
    misbehaviour: "reads nothing while the server's refusals and closes pile up",
    expected:
      "the server stops reading the tunnel past `maxPendingControlBytes` of unsent frames, and reads again once half of them went out",
    async run() {
      const server = serverUnderTest({ limits: { maxPendingControlBytes: 4_096 } });
      server.conn.writable = false; // the peer does not read
      for (let id = 1n; !server.conn.readingPaused; id++) {
        expect(id).toBeLessThan(10n); // each refusal holds ~700 bytes
        server.send(c2s.newStream(id, "test.Missing/Method"));
      }
      expect(server.conn.abortedWith).toBeUndefined();
      server.conn.drain();
      expect(server.conn.readingPaused).toBe(false);
    },
  },
  {
    id: "S35",
    misbehaviour: "`NewStream` for an unknown method with a very long name",
    expected: "stream closed: UNIMPLEMENTED `… not implemented`, quoting the name's first 100 characters",
    async run() {
      const server = serverUnderTest();
      const name = `pkg.Service/${"m".repeat(100_000)}`;
      server.send(c2s.newStream(1n, name));
      await streamCloses(1n, Code.UNIMPLEMENTED, /^pkg\.Service\/m{88}… \(100012 characters\) not implemented$/)(server);
    },
  },
];

/** A handler that reads nothing until its call ends. */
function stalled(stream: { signal: AbortSignal }): Promise<void> {
  return new Promise((resolve) => stream.signal.addEventListener("abort", () => resolve(), { once: true }));
}

describe("conformance: tunnel-server engine against a misbehaving tunnel client", () => {
  for (const c of serverCases) {
    it(`${c.id} ${c.misbehaviour} → ${c.expected}`, c.run);
  }

  it("README table lists every case with the same expected outcome", () => {
    const rows = readmeRows("Tunnel-server engine");
    expect(rows).toEqual(serverCases.map((c) => [c.id, c.misbehaviour, c.expected]));
  });
});

import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { serverStreamCall, unaryCall } from "../../src/api/client/index.js";
import { Code } from "../../src/code.js";
import type { ClientStream } from "../../src/engine/client-stream.js";
import { s2c, sameBytes } from "../support/frames.js";
import { clientUnderTest, SERVER_STREAM, testMessage, UNARY } from "./harness.js";
import { readmeRows } from "./readme.js";
import type { ConformanceCase } from "./server-engine.conformance.test.js";

type Client = Awaited<ReturnType<typeof clientUnderTest>>;

const tunnelEnds = async (client: Client, pattern: RegExp) => {
  await client.engine.done;
  expect(client.engine.error?.code).toBe(Code.INTERNAL);
  expect(client.engine.error?.rawMessage).toMatch(pattern);
  expect(client.conn.abortedWith).toBe(client.engine.error);
};

/** The call fails with `code`/`pattern`, and the client told the server it gave up. */
const callFails = async (client: Client, stream: ClientStream, code: Code, pattern: RegExp) => {
  const { error } = await stream.done;
  expect(error?.code).toBe(code);
  expect(error?.rawMessage).toMatch(pattern);
  expect(client.sentCancel(stream.id)).toBe(true);
  expect(client.engine.closed).toBe(false);
};

/** Reads a unary response the way the typed API does (exactly one message). */
function readUnary(stream: ClientStream): Promise<unknown> {
  return unaryCall({ startCall: () => stream }, TestService.method.unary, {}).catch((e: unknown) => e);
}

/** Reads a server stream through the typed API; resolves with the error that ended it. */
async function readServerStream(stream: ClientStream): Promise<unknown> {
  try {
    for await (const _ of serverStreamCall({ startCall: () => stream }, TestService.method.serverStream, {})) {
      // drain
    }
    return undefined;
  } catch (e) {
    return e;
  }
}

const data = new Uint8Array([1, 2, 3]);
const chunk16k = new Uint8Array(16_384);

export const clientCases: ConformanceCase[] = [
  {
    id: "C01",
    misbehaviour: "first frame is not `Settings` (negotiated tunnel)",
    expected: "tunnel ends: INTERNAL `protocol error: first frame was not settings …`",
    async run() {
      const client = await clientUnderTest({ settings: s2c.headers(1n) });
      await tunnelEnds(client, /^protocol error: first frame was not settings \(instead was responseHeaders\)$/);
      await expect(client.engine.ready).rejects.toMatchObject({ code: Code.INTERNAL });
    },
  },
  {
    id: "C02",
    misbehaviour: "`Settings` with a stream ID other than -1",
    expected: "tunnel ends: INTERNAL `protocol error: settings frame had bad stream ID (N)`",
    async run() {
      const client = await clientUnderTest({ settings: s2c.settings(0n, [0, 1]) });
      await tunnelEnds(client, /^protocol error: settings frame had bad stream ID \(0\)$/);
    },
  },
  {
    id: "C03",
    misbehaviour: "`Settings` with no revision in common",
    expected: "tunnel ends: INTERNAL `protocol error: server supports revisions [N], client supports [0, 1]`",
    async run() {
      const client = await clientUnderTest({ settings: s2c.settings(-1n, [7]) });
      await tunnelEnds(client, /^protocol error: server supports revisions \[7\], client supports \[0, 1\]$/);
    },
  },
  {
    id: "C04",
    misbehaviour: "`Settings` with an empty revision list",
    expected: "accepted as revision 0",
    async run() {
      const client = await clientUnderTest({ settings: s2c.settings(-1n, []) });
      await client.engine.ready;
      expect(client.engine.protocolRevision).toBe(0);
    },
  },
  {
    id: "C05",
    misbehaviour: "a second `Settings` later",
    expected: "tunnel ends: INTERNAL `protocol error: … stream ID -1: stream never created`",
    async run() {
      const client = await clientUnderTest();
      client.feed(s2c.settings(-1n, [0, 1]));
      await tunnelEnds(client, /^protocol error: received settings frame for stream ID -1: stream never created$/);
    },
  },
  {
    id: "C06",
    misbehaviour: "frame for a stream ID never opened",
    expected: "tunnel ends: INTERNAL `protocol error: … stream never created`",
    async run() {
      const client = await clientUnderTest();
      client.open();
      client.feed(s2c.headers(2n));
      await tunnelEnds(client, /^protocol error: received responseHeaders frame for stream ID 2: stream never created$/);
    },
  },
  {
    id: "C07",
    misbehaviour: "frames for a stream that already finished",
    expected: "ignored",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open();
      client.feed(s2c.close(1n, Code.NOT_FOUND, "gone"));
      expect((await stream.done).error?.code).toBe(Code.NOT_FOUND);
      client.feed(s2c.message(1n, 3, data), s2c.close(1n), s2c.windowUpdate(1n, 9));
      expect(client.engine.closed).toBe(false);
    },
  },
  {
    id: "C08",
    misbehaviour: "`more_response_data` without an envelope",
    expected: "call fails: INTERNAL `never received envelope for response message`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open();
      client.feed(s2c.more(1n, data));
      await callFails(client, stream, Code.INTERNAL, /^never received envelope for response message$/);
    },
  },
  {
    id: "C09",
    misbehaviour: "more data than the envelope's `size`",
    expected: "call fails: INTERNAL `received more response data than indicated by message envelope`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open();
      client.feed(s2c.message(1n, 2, data));
      await callFails(client, stream, Code.INTERNAL, /^received more response data than indicated by message envelope$/);
    },
  },
  {
    id: "C10",
    misbehaviour: "new envelope before the previous message is complete",
    expected: "call fails: INTERNAL `received response message envelope before previous message finished …`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open();
      client.feed(s2c.message(1n, 10, data), s2c.message(1n, 3, data));
      await callFails(client, stream, Code.INTERNAL, /^received response message envelope before previous message finished/);
    },
  },
  {
    id: "C11",
    misbehaviour: "a chunk over 16,384 bytes that fits the window: 65,536 bytes into a fresh 64 KiB window",
    expected: "accepted, as in Go: the message is delivered",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open(SERVER_STREAM);
      const bytes = new Uint8Array(65_536).fill(5);
      client.feed(s2c.message(1n, bytes.length, bytes), s2c.close(1n));
      expect(sameBytes(await stream.read(), bytes)).toBe(true);
      expect(await stream.read()).toBeUndefined();
      expect((await stream.done).error).toBeUndefined();
      expect(client.sentCancel(1n)).toBe(false);
    },
  },
  {
    id: "C12",
    misbehaviour: "data beyond the stream's window (revision 1), in one chunk (65,537 bytes into a fresh 64 KiB window) or several",
    expected: "call fails: RESOURCE_EXHAUSTED `flow control window exceeded`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const single = client.open(SERVER_STREAM);
      client.feed(s2c.message(1n, 65_537, new Uint8Array(65_537)));
      await callFails(client, single, Code.RESOURCE_EXHAUSTED, /^flow control window exceeded$/);
      const several = client.open(SERVER_STREAM);
      client.feed(s2c.message(2n, 100_000, chunk16k));
      for (let i = 0; i < 4; i++) client.feed(s2c.more(2n, chunk16k));
      await callFails(client, several, Code.RESOURCE_EXHAUSTED, /^flow control window exceeded$/);
    },
  },
  {
    id: "C13",
    misbehaviour: "`window_update` overflowing 2^32-1",
    expected: "call fails: INTERNAL `protocol error: window update overflows the send window`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open();
      client.feed(s2c.windowUpdate(1n, 0xffff_ffff));
      await callFails(client, stream, Code.INTERNAL, /window update overflows the send window/);
    },
  },
  {
    id: "C14",
    misbehaviour: "unknown frame (empty oneof) on a live stream",
    expected: "call fails: INTERNAL `protocol error: unrecognized frame type`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open();
      client.feed(s2c.empty(1n));
      await callFails(client, stream, Code.INTERNAL, /^protocol error: unrecognized frame type$/);
    },
  },
  {
    id: "C15",
    misbehaviour: "a frame that is not valid protobuf",
    expected: "tunnel ends: INTERNAL `protocol error: undecodable frame: …`",
    async run() {
      const client = await clientUnderTest();
      client.feed({ undecodable: "invalid wire type" });
      await tunnelEnds(client, /^protocol error: undecodable frame: invalid wire type$/);
    },
  },
  {
    id: "C16",
    misbehaviour: "two responses to a unary call",
    expected: "call fails: INTERNAL `server sent multiple responses for non-server-stream method Unary`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open(UNARY);
      const bytes = testMessage();
      client.feed(s2c.headers(1n), s2c.message(1n, bytes.length, bytes), s2c.message(1n, bytes.length, bytes));
      const error = await readUnary(stream);
      expect(error).toMatchObject({ code: Code.INTERNAL, rawMessage: "server sent multiple responses for non-server-stream method Unary" });
      expect(client.sentCancel(1n)).toBe(true);
    },
  },
  {
    id: "C17",
    misbehaviour: "unary call closed OK with no response",
    expected: "call fails: INTERNAL `server ended Unary without sending a response`",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open(UNARY);
      client.feed(s2c.close(1n));
      expect(await readUnary(stream)).toMatchObject({ code: Code.INTERNAL, rawMessage: "server ended Unary without sending a response" });
    },
  },
  {
    id: "C18",
    misbehaviour: "garbage protobuf as a response message",
    expected: "call fails: INTERNAL `failed to parse grpchantesting.Message: …`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open(SERVER_STREAM);
      const garbage = new Uint8Array([0xff, 0xff]);
      client.feed(s2c.message(1n, garbage.length, garbage));
      const error = await readServerStream(stream);
      expect(error).toMatchObject({ code: Code.INTERNAL });
      expect((error as { rawMessage: string }).rawMessage).toMatch(/^failed to parse grpchantesting\.Message: /);
      expect(client.sentCancel(1n)).toBe(true);
    },
  },
  {
    id: "C19",
    misbehaviour: "`close_stream` (OK) in the middle of a message",
    expected: "call fails: INTERNAL `server closed the stream in the middle of a message`",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open(SERVER_STREAM);
      client.feed(s2c.message(1n, 10, data), s2c.close(1n));
      await expect(stream.read()).rejects.toMatchObject({
        code: Code.INTERNAL,
        rawMessage: "server closed the stream in the middle of a message",
      });
    },
  },
  {
    id: "C20",
    misbehaviour: "response headers sent twice",
    expected: "the first wins; later copies are ignored",
    async run() {
      const client = await clientUnderTest();
      const seen: string[] = [];
      const stream = client.engine.openStream(UNARY, new Metadata(), {
        onHeader: (md) => seen.push(String(md.get("h")[0])),
      });
      client.feed(s2c.headers(1n, { h: "first" }), s2c.headers(1n, { h: "second" }), s2c.close(1n));
      await stream.done;
      expect(seen).toEqual(["first"]);
    },
  },
  {
    id: "C21",
    misbehaviour: "response message over `maxReceiveMessageBytes`",
    expected: "call fails: RESOURCE_EXHAUSTED `response message larger than max (N vs. M)`; `cancel` sent",
    async run() {
      const client = await clientUnderTest({ limits: { maxReceiveMessageBytes: 100 } });
      const stream = client.open(SERVER_STREAM);
      client.feed(s2c.message(1n, 101, data));
      await callFails(client, stream, Code.RESOURCE_EXHAUSTED, /^response message larger than max \(101 vs\. 100\)$/);
    },
  },
  {
    id: "C22",
    misbehaviour: "response headers over `maxMetadataBytes`",
    expected: "call fails: RESOURCE_EXHAUSTED `metadata of N bytes is larger than the limit of M bytes`; `cancel` sent",
    async run() {
      const client = await clientUnderTest({ limits: { maxMetadataBytes: 64 } });
      const stream = client.open();
      client.feed(s2c.headers(1n, { "x-big": "v".repeat(100) }));
      await callFails(client, stream, Code.RESOURCE_EXHAUSTED, /^metadata of 137 bytes is larger than the limit of 64 bytes$/);
    },
  },
  {
    id: "C23",
    misbehaviour: "metadata key grpc-js cannot represent",
    expected: "call fails: INTERNAL `invalid metadata from peer: …`; `cancel` sent",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open();
      client.feed(s2c.headers(1n, { "NOT VALID": "x" }));
      await callFails(client, stream, Code.INTERNAL, /^invalid metadata from peer: /);
    },
  },
  {
    id: "C24",
    misbehaviour: "data after the call was cancelled (revision 0 servers keep sending)",
    expected: "dropped",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open(SERVER_STREAM);
      stream.cancel();
      client.feed(s2c.headers(1n), s2c.message(1n, 3, data), s2c.close(1n, Code.UNKNOWN, "context canceled"));
      expect((await stream.done).error?.code).toBe(Code.CANCELLED);
      expect(client.engine.closed).toBe(false);
    },
  },
  {
    id: "C25",
    misbehaviour: "advertises negotiation but never sends `Settings`",
    expected: "tunnel ends after `settingsTimeoutMs`: DEADLINE_EXCEEDED `no Settings frame within N ms of opening the tunnel`",
    async run() {
      const client = await clientUnderTest({ settings: "withheld", limits: { settingsTimeoutMs: 50 } });
      await client.engine.done;
      expect(client.engine.error).toMatchObject({
        code: Code.DEADLINE_EXCEEDED,
        rawMessage: "no Settings frame within 50 ms of opening the tunnel",
      });
      expect(client.conn.abortedWith).toBe(client.engine.error);
      await expect(client.engine.ready).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    },
  },
  {
    id: "C26",
    misbehaviour: "a 1 MiB message in one chunk on a revision-0 stream",
    expected: "accepted, as in Go: the message is delivered",
    async run() {
      const client = await clientUnderTest({ settings: s2c.settings(-1n, [0]) });
      const stream = client.open(SERVER_STREAM);
      const bytes = new Uint8Array(1_048_576).fill(6);
      client.feed(s2c.message(1n, bytes.length, bytes), s2c.close(1n));
      expect(sameBytes(await stream.read(), bytes)).toBe(true);
      expect((await stream.done).error).toBeUndefined();
      expect(client.conn.written.find((f) => f.streamId === 1n && f.frame.case === "newStream")?.frame.value).toMatchObject({
        protocolRevision: 0,
      });
    },
  },
  {
    id: "C27",
    misbehaviour: "`close_stream` with a status code outside 0–16",
    expected: "call fails: UNKNOWN, with the server's message",
    async run() {
      const client = await clientUnderTest();
      const stream = client.open();
      client.feed(s2c.close(1n, 99, "odd code"));
      const { error } = await stream.done;
      expect(error).toMatchObject({ code: Code.UNKNOWN, rawMessage: "odd code" });
    },
  },
  {
    id: "C28",
    misbehaviour: "response headers beyond `maxTunnelMemoryBytes`",
    expected: "call fails: RESOURCE_EXHAUSTED `memory limit maxTunnelMemoryBytes (N bytes) reached`; `cancel` sent",
    async run() {
      // The stream holds ~4 KiB; 20 header entries ~3 KiB more.
      const client = await clientUnderTest({ limits: { maxTunnelMemoryBytes: 6_000 } });
      const stream = client.open();
      client.feed(s2c.headers(1n, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-${i}`, "v"]))));
      await callFails(client, stream, Code.RESOURCE_EXHAUSTED, /^memory limit maxTunnelMemoryBytes \(6000 bytes\) reached$/);
    },
  },
  {
    id: "C29",
    misbehaviour: "response data beyond `maxTunnelMemoryBytes` (unread, revision 0)",
    expected: "call fails: RESOURCE_EXHAUSTED `memory limit maxTunnelMemoryBytes (N bytes) reached`; `cancel` sent",
    async run() {
      const client = await clientUnderTest({ limits: { maxTunnelMemoryBytes: 64 * 1024 }, settings: s2c.settings(-1n, [0]) });
      const stream = client.open(SERVER_STREAM);
      for (let i = 0; i < 4; i++) client.feed(s2c.message(1n, chunk16k.length, chunk16k));
      await callFails(client, stream, Code.RESOURCE_EXHAUSTED, /^memory limit maxTunnelMemoryBytes \(65536 bytes\) reached$/);
      expect(client.engine.memory.used).toBeLessThan(8 * 1024); // released with the call
    },
  },
];

describe("conformance: tunnel-client engine against a misbehaving tunnel server", () => {
  for (const c of clientCases) {
    it(`${c.id} ${c.misbehaviour} → ${c.expected}`, c.run);
  }

  it("README table lists every case with the same expected outcome", () => {
    const rows = readmeRows("Tunnel-client engine");
    expect(rows).toEqual(clientCases.map((c) => [c.id, c.misbehaviour, c.expected]));
  });
});

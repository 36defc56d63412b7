// The interop matrix against the real Go library (github.com/jhump/grpctunnel
// v0.3.0, programs in interop/go built by the test setup): a TypeScript
// client with the Go tunnel server and the Go client with a TypeScript
// tunnel server, each over forward and reverse tunnels, on protocol
// revision 1 and revision 0 (Go with flow control disabled). One Go process
// per role and revision serves all cases; docs/interop.md says what each
// pairing covers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureGoInteropPrograms } from "../../../scripts/go-tools.mjs";
import { redisFromEnvOrStart } from "../../../scripts/redis-server.mjs";
import { maxOf } from "./support/chunk-tap.js";
import { withCluster } from "./support/cluster-pairing.js";
import { type Direction, type Pairing, type Revision, Teardown, withGoServer, withTsServer } from "./support/pairings.js";
import { CALL_HEADER, CANCELED, type CallSpec, DEADLINE_EXCEEDED, PARK_HEADER } from "./support/spec.js";

const teardown = new Teardown();
const pairings = new Map<string, Pairing>();

beforeAll(async () => {
  // A fresh machine downloads the modules and builds from scratch (about a minute on 2 cores).
  const programs = await ensureGoInteropPrograms();
  const redis = await redisFromEnvOrStart();
  teardown.add(() => redis.stop());
  for (const revision of [1, 0] as const) {
    const started = [
      ...(await withGoServer(programs, revision, teardown)),
      ...(await withTsServer(programs, revision, teardown)),
      await withCluster(programs, revision, teardown, redis.url),
    ];
    for (const pairing of started) {
      pairings.set(`${pairing.caller.language}→${pairing.server.language} ${pairing.direction} ${revision}`, pairing);
    }
  }
}, 240_000);

afterAll(() => teardown.run(), 30_000);

/** Google's Go code reads metadata values as strings: -bin values must be valid UTF-8 to cross (docs/protocol.md). */
const b64 = (bytes: number[]) => Buffer.from(bytes).toString("base64");
const KiB = 1024;
const MiB = 1024 * KiB;
/** Go's chunk size (grpctunnel sends no larger chunks). */
const GO_CHUNK = 16 * KiB;
/** A google.rpc.Status detail (StringValue "why"), passed through as bytes. */
const DETAIL = { typeUrl: "type.googleapis.com/google.protobuf.StringValue", value: b64([0x0a, 0x03, 0x77, 0x68, 0x79]) };

let seq = 0;
const nextId = (what: string) => `${what}-${++seq}`;

const MATRIX: Array<{ caller: "TypeScript" | "Go"; server: "TypeScript" | "Go"; direction: Direction; revision: Revision }> = [];
for (const revision of [1, 0] as const) {
  MATRIX.push(
    { caller: "TypeScript", server: "Go", direction: "forward", revision },
    { caller: "Go", server: "TypeScript", direction: "reverse", revision },
    { caller: "Go", server: "TypeScript", direction: "forward", revision },
    { caller: "TypeScript", server: "Go", direction: "reverse", revision },
    { caller: "TypeScript", server: "Go", direction: "relayed", revision },
  );
}

const title = (m: (typeof MATRIX)[number]) => `${m.caller} caller → ${m.server} server, ${m.direction} tunnel, revision ${m.revision}`;

describe.each(MATRIX.map((m) => [title(m), m] as const))("%s", (_, { caller, server, direction, revision }) => {
  const p = () => pairings.get(`${caller}→${server} ${direction} ${revision}`)!;

  /**
   * On revision 0 a Go reader holds the whole tunnel: grpctunnel v0.3.0
   * hands each received chunk to its stream through a one-slot channel,
   * so the tunnel's receive loop waits while a stream's reader does not
   * read, and HTTP/2 flow control then holds the sender (docs/protocol.md).
   * Other calls on that tunnel wait for the reader; TypeScript queues per
   * stream instead.
   */
  const blocksTunnel = (reader: "TypeScript" | "Go") => revision === 0 && reader === "Go";
  /** Tunnels between caller and handler, each with its own windows: a relayed call crosses the relay tunnel too. */
  const hops = direction === "relayed" ? 2 : 1;

  /** After a stall: the tunnel still carries calls. */
  const expectTunnelWorks = async () =>
    expect(await p().call({ id: nextId("after"), method: "unary", requestBytes: 10, concurrency: 10 })).toMatchObject({ failed: 0 });

  it("unary: payload, request metadata (text and -bin) as the server saw it, response headers and trailers", async () => {
    const r = await p().call({
      id: nextId("unary"),
      method: "unary",
      requestBytes: 100,
      metadata: { "x-text": "hello", "x-raw-bin": b64([0, 104, 105]) },
      responseHeaders: { "h-text": "v1", "h-raw-bin": b64([9, 8, 7]) },
      responseTrailers: { "t-text": "v2", "t-raw-bin": b64([1, 2]) },
    });
    expect(r).toMatchObject({ code: 0, responses: 1, badPayloads: 0, responseBytes: 100 });
    expect(r.echoed).toMatchObject({ "x-text": "hello", "x-raw-bin": b64([0, 104, 105]) });
    expect(r.headers).toMatchObject({ "h-text": "v1", "h-raw-bin": b64([9, 8, 7]) });
    expect(r.trailers).toMatchObject({ "t-text": "v2", "t-raw-bin": b64([1, 2]) });
  });

  it("client stream: every request arrives, the last is answered with the count", async () => {
    const r = await p().call({ id: nextId("cs"), method: "clientStream", requests: 7, requestBytes: 1000, responseTrailers: { t: "cs" } });
    expect(r).toMatchObject({ code: 0, responses: 1, badPayloads: 0, counts: [7], trailers: { t: "cs" } });
  });

  it("server stream: the asked number of responses, in one call", async () => {
    const r = await p().call({ id: nextId("ss"), method: "serverStream", responses: 25, requestBytes: 3000, responseHeaders: { h: "ss" } });
    expect(r).toMatchObject({ code: 0, responses: 25, badPayloads: 0, responseBytes: 25 * 3000, headers: { h: "ss" } });
  });

  it("bidi stream, full duplex: each request answered before the next is sent", async () => {
    const r = await p().call({ id: nextId("bidi"), method: "bidi", requests: 6, requestBytes: 500 });
    expect(r).toMatchObject({ code: 0, responses: 6, badPayloads: 0, counts: [1, 2, 3, 4, 5, 6] });
  });

  it("bidi stream, half duplex: the server answers only after the client half-closed", async () => {
    const r = await p().call({ id: nextId("half"), method: "bidi", requests: 4, requestBytes: 500, halfDuplex: true });
    expect(r).toMatchObject({ code: 0, responses: 4, badPayloads: 0, counts: [1, 2, 3, 4] });
  });

  it.each(["unary", "clientStream", "serverStream", "bidi"] as const)(
    "%s failing: status code, message, google.rpc.Status details and trailers reach the caller",
    async (method) => {
      const r = await p().call({
        id: nextId(`fail-${method}`),
        method,
        requests: 3,
        responses: 2,
        requestBytes: 10,
        code: 9,
        details: [DETAIL],
        responseTrailers: { "t-why": "failed" },
      });
      expect(r).toMatchObject({ code: 9, message: "error", details: [DETAIL], trailers: { "t-why": "failed" } });
      // A server stream sends its responses before failing; a bidi stream answers all but the failing request.
      expect(r.responses).toBe(method === "serverStream" ? 2 : method === "bidi" ? 2 : 0);
    },
  );

  it.each(["unary", "bidi"] as const)("%s: the caller's deadline ends a slow call at both ends", async (method) => {
    const id = nextId(`deadline-${method}`);
    const r = await p().call({ id, method, delayMs: 60_000, timeoutMs: 300, metadata: { [CALL_HEADER]: id } });
    expect(r.code).toBe(4); // DEADLINE_EXCEEDED
    expect(r.elapsedMs).toBeLessThan(10_000);
    // The handler's context ended long before its delay: by the deadline
    // (grpc-timeout), or by the cancel the caller sends at its deadline (Go
    // callers send no grpc-timeout).
    const end = await p().server.log.handlerEnd(id);
    expect([CANCELED, DEADLINE_EXCEEDED]).toContain(end.ctxError);
    if (caller === "Go") expect(end.ctxError).toBe(CANCELED);
  });

  it("cancellation: a caller that cancels a bidi stream mid-call ends the handler with it", async () => {
    const id = nextId("cancel");
    const r = await p().call({ id, method: "bidi", requests: 3, cancelAfterResponses: 1, metadata: { [CALL_HEADER]: id } });
    expect(r).toMatchObject({ code: 1, responses: 1 }); // CANCELLED
    const end = await p().server.log.handlerEnd(id);
    expect(end.ctxError).toBe(CANCELED);
  });

  it.each([
    ["0 B", 0],
    ["16 KiB + 1", 16 * KiB + 1],
    ["1 MiB", MiB],
    ["4 MiB - 64 B", 4 * MiB - 64],
  ])("a %s message in both directions, chunked by each side its own way", async (_, size) => {
    const { tap } = p();
    tap.reset();
    const r = await p().call({ id: nextId("size"), method: "unary", requestBytes: size });
    expect(r).toMatchObject({ code: 0, responses: 1, badPayloads: 0, responseBytes: size });
    // Go cuts messages into chunks of at most 16 KiB, which TypeScript reassembles...
    expect(maxOf(tap.received)).toBeLessThanOrEqual(GO_CHUNK);
    if (size > GO_CHUNK) {
      // (The message is the payload and a few bytes of protobuf framing.)
      expect(tap.received.filter((n) => n === GO_CHUNK).length).toBe(Math.floor((size + 5) / GO_CHUNK));
      // ...and Go accepts TypeScript's larger ones: within its 64 KiB window
      // on revision 1, on revision 0 whole messages up to 4 MiB - 64 B.
      expect(maxOf(tap.sent)).toBeGreaterThan(GO_CHUNK);
      if (revision === 0) expect(maxOf(tap.sent)).toBeGreaterThanOrEqual(Math.min(size, 4 * MiB - 64));
    }
  });

  it("64 KiB messages streamed each way: TypeScript's chunks stay large against the peer's window (no silly window)", async () => {
    // Go returns credit chunk by chunk and never grows its 64 KiB window; a
    // 64 KiB message (65,540 bytes) overruns it by 4. A sender that spends
    // whatever credit came back at once cut its chunks ever smaller: about
    // 16 chunks of a few bytes per message, each a round trip (7 MiB/s
    // where Go reaches 94). Only a message's last chunk may be small.
    const { tap } = p();
    tap.reset();
    const messages = 32;
    const down = await p().call({ id: nextId("ss-64k"), method: "serverStream", responses: messages, requestBytes: 64 * KiB });
    expect(down).toMatchObject({ code: 0, responses: messages, badPayloads: 0, responseBytes: messages * 64 * KiB });
    const up = await p().call({ id: nextId("cs-64k"), method: "clientStream", requests: messages, requestBytes: 64 * KiB });
    expect(up).toMatchObject({ code: 0, responses: 1, counts: [messages], badPayloads: 0 });
    const large = tap.sentMessages().filter((chunks) => chunks.reduce((a, b) => a + b, 0) > 64 * KiB);
    // TypeScript sent one call's 32 messages and the other call's request (caller) or none of it (server).
    expect(large.length).toBeGreaterThanOrEqual(messages);
    const small = large.flatMap((chunks) => chunks.slice(0, -1)).filter((n) => n < GO_CHUNK);
    expect(small).toEqual([]);
  });

  it("a caller that stops reading: the server is held by the window, and nothing is lost", async () => {
    const id = nextId("stall-reader");
    const responses = 32;
    const spec: CallSpec = {
      id,
      method: "serverStream",
      responses,
      requestBytes: 32 * KiB,
      stallAfterResponses: 1,
      metadata: { [CALL_HEADER]: id },
    };
    const pending = p().call(spec);
    await p().caller.log.waitFor(`stall of ${id}`, (e) => e.event === "stalled" && e.call === id);
    if (blocksTunnel(caller)) {
      p().caller.release(id);
    } else {
      // Many calls complete on the same tunnel while the stalled stream sits on its window.
      const others = await p().call({ id: nextId("beside-stall"), method: "unary", requestBytes: 100, concurrency: 200 });
      expect(others).toMatchObject({ calls: 200, failed: 0, responses: 200 });
      if (revision === 1) {
        // 32 KiB messages into a 64 KiB window, plus the one read: far from all 32.
        expect(p().server.log.sent(id)).toBeLessThanOrEqual(8 * hops);
      }
      p().caller.release(id);
    }
    expect(await pending).toMatchObject({ code: 0, responses, badPayloads: 0 });
    await expectTunnelWorks();
  });

  it("a handler that stops reading: the caller is held by the window, and nothing is lost", async () => {
    const id = nextId("stall-handler");
    const requests = 32;
    const pending = p().call({
      id,
      method: "clientStream",
      requests,
      requestBytes: 32 * KiB,
      progress: true,
      metadata: { [CALL_HEADER]: id, [PARK_HEADER]: "1" },
    });
    await p().server.log.waitFor(`park of ${id}`, (e) => e.event === "parked" && e.call === id);
    if (!blocksTunnel(server)) {
      const others = await p().call({ id: nextId("beside-park"), method: "unary", requestBytes: 100, concurrency: 200 });
      expect(others).toMatchObject({ calls: 200, failed: 0 });
      if (revision === 1) {
        // 32 KiB messages into a 64 KiB window: two, and maybe one waiting in the sender.
        expect(p().caller.log.sent(id)).toBeLessThanOrEqual(4 * hops);
      }
    }
    p().server.release(id);
    expect(await pending).toMatchObject({ code: 0, responses: 1, counts: [requests], badPayloads: 0 });
    await expectTunnelWorks();
  });

  it("1,000 concurrent streams on one tunnel, all open at once", async () => {
    const r = await p().call({ id: nextId("many"), method: "bidi", requests: 1, requestBytes: 10, concurrency: 1000, barrier: true });
    expect(r).toMatchObject({ calls: 1000, failed: 0, responses: 1000, badPayloads: 0 });
  });
});

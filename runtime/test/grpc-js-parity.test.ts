import type { EventEmitter } from "node:events";
// One grpc-js client and one grpc-js style service, unmodified, reached three
// ways: a direct grpc-js connection, a forward tunnel and a reverse tunnel.
// Every test body runs against all three with the same expectations.
import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { StatusSchema } from "../src/gen/google/rpc/status_pb.js";
import { BINARY, MODES, startEcho, type EchoClient, type EchoRequest, type EchoResponse } from "./support/grpc-js-echo.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const Status = grpc.status;
const B64 = BINARY.toString("base64");

/** Custom metadata (x-* keys and the status details) as plain values; binary ones in base64. */
function custom(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(md.toJSON())) {
    if (key.startsWith("x-") || key === "grpc-status-details-bin") {
      out[key] = values.map((v) => (typeof v === "string" ? v : Buffer.from(v).toString("base64"))).join(",");
    }
  }
  return out;
}

/** Everything a grpc-js caller observes of one call, in a comparable shape. */
interface Observed {
  /** Custom response headers; null when grpc-js emitted no 'metadata' event. */
  headers: Record<string, string> | null;
  responses: EchoResponse[];
  status: { code: number; details: string; trailers: Record<string, string> };
  /** The error the callback or the 'error' event got. */
  error: { code: number; details: string; message: string } | null;
}

type AnyCall =
  | grpc.ClientUnaryCall
  | grpc.ClientReadableStream<EchoResponse>
  | grpc.ClientWritableStream<EchoRequest>
  | grpc.ClientDuplexStream<EchoRequest, EchoResponse>;

/** Collects a call's events until its 'status'. */
function observe(
  call: AnyCall,
  onResponse?: (res: EchoResponse, call: AnyCall) => void,
): { observed: Promise<Observed>; record: (err: grpc.ServiceError | null, res?: EchoResponse) => void } {
  const seen: Observed = { headers: null, responses: [], status: { code: -1, details: "", trailers: {} }, error: null };
  const record = (err: grpc.ServiceError | null, res?: EchoResponse) => {
    if (err) {
      seen.error = { code: err.code, details: err.details, message: err.message };
    } else if (res !== undefined) {
      seen.responses.push(res);
    }
  };
  call.on("metadata", (md: grpc.Metadata) => (seen.headers = custom(md)));
  (call as EventEmitter).on("data", (res: EchoResponse) => {
    seen.responses.push(res);
    onResponse?.(res, call);
  });
  (call as EventEmitter).on("error", (err: grpc.ServiceError) => record(err));
  const observed = new Promise<Observed>((resolve) =>
    call.on("status", (status: grpc.StatusObject) => {
      seen.status = { code: status.code, details: status.details, trailers: custom(status.metadata) };
      // The unary callback runs before 'status'; stream 'data' events too.
      setImmediate(() => resolve(seen));
    }),
  );
  return { observed, record };
}

function unary(client: EchoClient, req: EchoRequest, md = new grpc.Metadata(), options: grpc.CallOptions = {}) {
  let record!: (err: grpc.ServiceError | null, res?: EchoResponse) => void;
  const call = client.unary(req, md, options, (err, res) => record(err, res));
  const o = observe(call);
  record = o.record;
  return { call, observed: o.observed };
}

function serverStream(
  client: EchoClient,
  req: EchoRequest,
  options: grpc.CallOptions = {},
  onResponse?: (res: EchoResponse, call: AnyCall) => void,
) {
  const call = client.serverStream(req, new grpc.Metadata(), options);
  return { call, observed: observe(call, onResponse).observed };
}

function clientStream(client: EchoClient, reqs: EchoRequest[], md = new grpc.Metadata()) {
  let record!: (err: grpc.ServiceError | null, res?: EchoResponse) => void;
  const call = client.clientStream(md, {}, (err, res) => record(err, res));
  const o = observe(call);
  record = o.record;
  for (const req of reqs) {
    call.write(req);
  }
  call.end();
  return o.observed;
}

function bidi(client: EchoClient, reqs: EchoRequest[], end = true) {
  const call = client.bidiStream(new grpc.Metadata(), {});
  const { observed } = observe(call);
  for (const req of reqs) {
    call.write(req);
  }
  if (end) {
    call.end();
  }
  return { call, observed };
}

const echoed = (text: string, index: number, metadata: Record<string, string> = {}): EchoResponse => ({
  text,
  index,
  metadata,
  binaryMetadata: {},
  hasDeadline: false,
});
const headersOf = (text: string) => ({ "x-header": `h-${text}`, "x-header-bin": B64 });
const trailersOf = (text: string) => ({ "x-trailer": `t-${text}`, "x-trailer-bin": B64 });
const ok = (text: string) => ({ code: Status.OK, details: "OK", trailers: trailersOf(text) });

describe.each(MODES)("grpc-js client and grpc-js service, %s", (mode) => {
  it("unary: response, request metadata (text, repeated, binary), headers and trailers", async () => {
    const { client } = await startEcho(cleanup, mode).then((t) => ({ client: t.client() }));
    const md = new grpc.Metadata();
    md.add("x-multi", "a");
    md.add("x-multi", "b");
    md.set("x-bin-bin", BINARY);
    const { observed } = unary(client, { text: "hi" }, md);
    expect(await observed).toEqual({
      headers: headersOf("hi"),
      responses: [{ ...echoed("hi", 0, { "x-multi": "a,b" }), binaryMetadata: { "x-bin-bin": B64 } }],
      status: ok("hi"),
      error: null,
    });
  });

  it("server streaming, client streaming and bidi streaming", async () => {
    const client = (await startEcho(cleanup, mode)).client();
    expect(await serverStream(client, { text: "s", count: 3 }).observed).toEqual({
      headers: headersOf("s"),
      responses: [0, 1, 2].map((i) => echoed("s", i)),
      status: ok("s"),
      error: null,
    });
    expect(await clientStream(client, [{ text: "a" }, { text: "b" }, { text: "c" }])).toEqual({
      headers: headersOf("a,b,c"),
      responses: [echoed("a,b,c", 3)],
      status: ok("a,b,c"),
      error: null,
    });
    expect(await bidi(client, [{ text: "x" }, { text: "y" }]).observed).toEqual({
      headers: headersOf("x"),
      responses: [echoed("x", 0), echoed("y", 1)],
      status: ok("2"),
      error: null,
    });
  });

  it("carries large messages in both directions", async () => {
    const client = (await startEcho(cleanup, mode)).client();
    const big = "z".repeat(300_000);
    const single = await unary(client, { text: big }).observed;
    expect(single.error).toBeNull();
    expect(single.responses[0].text === big).toBe(true);
    const many = await bidi(
      client,
      Array.from({ length: 5 }, (_, i) => ({ text: `${i}${big}` })),
    ).observed;
    expect(many.responses.map((r) => [r.index, r.text.length])).toEqual([0, 1, 2, 3, 4].map((i) => [i, big.length + 1]));
  });

  it("errors: code, message and trailers; no headers event for a call that failed before sending any", async () => {
    const client = (await startEcho(cleanup, mode)).client();
    const expected = (text: string, code: number) => ({
      status: { code, details: "nope", trailers: trailersOf(text) },
      error: { code, details: "nope", message: `${code} ${Status[code]}: nope` },
    });
    expect(await unary(client, { text: "u", failCode: Status.NOT_FOUND, failMessage: "nope" }).observed).toEqual({
      headers: null,
      responses: [],
      ...expected("u", Status.NOT_FOUND),
    });
    expect(await serverStream(client, { text: "s", count: 2, failCode: Status.ABORTED, failMessage: "nope" }).observed).toEqual({
      headers: headersOf("s"),
      responses: [echoed("s", 0), echoed("s", 1)],
      ...expected("s", Status.ABORTED),
    });
    expect(await clientStream(client, [{ text: "a" }, { text: "c", failCode: Status.OUT_OF_RANGE, failMessage: "nope" }])).toEqual({
      headers: null,
      responses: [],
      ...expected("c", Status.OUT_OF_RANGE),
    });
    expect(
      await bidi(client, [{ text: "x" }, { text: "f", failCode: Status.PERMISSION_DENIED, failMessage: "nope" }], false).observed,
    ).toEqual({
      headers: headersOf("x"),
      responses: [echoed("x", 0)],
      ...expected("f", Status.PERMISSION_DENIED),
    });
  });

  it("error details travel as grpc-status-details-bin", async () => {
    const client = (await startEcho(cleanup, mode)).client();
    let trailers: grpc.Metadata | undefined;
    const { call, observed } = unary(client, {
      text: "d",
      failCode: Status.FAILED_PRECONDITION,
      failMessage: "with details",
      withDetails: true,
    });
    call.on("status", (s: grpc.StatusObject) => (trailers = s.metadata));
    const seen = await observed;
    expect(seen.error).toMatchObject({ code: Status.FAILED_PRECONDITION, details: "with details" });
    expect(seen.status.trailers).toMatchObject(trailersOf("d"));
    const encoded = trailers!.get("grpc-status-details-bin");
    expect(encoded).toHaveLength(1);
    const status = fromBinary(StatusSchema, encoded[0] as Buffer);
    expect([status.code, status.message]).toEqual([Status.FAILED_PRECONDITION, "with details"]);
    expect(status.details.map((d) => anyUnpack(d, StringValueSchema)?.value)).toEqual(["why"]);
  });

  it("a handler that throws fails the call with UNKNOWN, hiding the error", async () => {
    const client = (await startEcho(cleanup, mode)).client();
    expect(await unary(client, { throwError: true }).observed).toEqual({
      headers: null,
      responses: [],
      status: { code: Status.UNKNOWN, details: "Unknown error", trailers: {} },
      error: { code: Status.UNKNOWN, details: "Unknown error", message: "2 UNKNOWN: Unknown error" },
    });
  });

  it("a method the implementation lacks answers UNIMPLEMENTED as grpc-js does", async () => {
    const client = (await startEcho(cleanup, mode)).client();
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.notImplemented({}, new grpc.Metadata(), {}, (err) => resolve(err)),
    );
    expect({ code: error?.code, details: error?.details }).toEqual({
      code: Status.UNIMPLEMENTED,
      details: "The server does not implement the method NotImplemented",
    });
  });

  it("deadlines: the handler sees the caller's deadline, and both ends see it pass", async () => {
    const target = await startEcho(cleanup, mode);
    const client = target.client();
    const deadline = Date.now() + 1_000;
    const { observed } = unary(client, { waitForCancel: true }, new grpc.Metadata(), { deadline });
    const started = await target.probe.started.waitFor((s) => s.method === "unary");
    expect(Math.abs(Number(started.call.getDeadline()) - deadline)).toBeLessThan(1_000);
    const seen = await observed;
    expect(seen.status.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(seen.status.details).toMatch(/^Deadline exceeded/);
    expect(seen.error?.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(seen.headers).toBeNull();
    expect(await target.probe.cancelled.waitFor((c) => c.method === "unary")).toEqual({ method: "unary", flag: true });

    // A deadline already in the past fails the call at once.
    const late = await unary(client, { text: "late" }, new grpc.Metadata(), { deadline: Date.now() - 1 }).observed;
    expect(late.status.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(late.responses).toEqual([]);

    // A deadline that does not pass: the handler knows there is one.
    const inTime = await unary(client, { text: "t" }, new grpc.Metadata(), { deadline: Date.now() + 60_000 }).observed;
    expect(inTime.responses[0].hasDeadline).toBe(true);
  });

  it("cancellation: call.cancel() ends the call and the handler sees 'cancelled'", async () => {
    const target = await startEcho(cleanup, mode);
    const client = target.client();
    const cancelled = (method: string) => target.probe.cancelled.waitFor((c) => c.method === method);
    const expected = {
      status: { code: Status.CANCELLED, details: "Cancelled on client", trailers: {} },
      error: { code: Status.CANCELLED, details: "Cancelled on client", message: "1 CANCELLED: Cancelled on client" },
    };

    const u = unary(client, { waitForCancel: true });
    await target.probe.started.waitFor((s) => s.method === "unary");
    u.call.cancel();
    expect(await u.observed).toEqual({ headers: null, responses: [], ...expected });
    expect(await cancelled("unary")).toEqual({ method: "unary", flag: true });

    const s = serverStream(client, { text: "s", count: 1, waitForCancel: true }, {}, (_res, call) => call.cancel());
    expect(await s.observed).toEqual({ headers: headersOf("s"), responses: [echoed("s", 0)], ...expected });
    expect(await cancelled("serverStream")).toEqual({ method: "serverStream", flag: true });

    const b = bidi(client, [{ text: "b" }], false);
    b.call.on("data", () => b.call.cancel());
    expect(await b.observed).toEqual({ headers: headersOf("b"), responses: [echoed("b", 0)], ...expected });
    expect(await cancelled("bidiStream")).toEqual({ method: "bidiStream", flag: true });
  });

  it("grpc-js emits 'cancelled' on the handler's call when a call completes normally too", async () => {
    const target = await startEcho(cleanup, mode);
    const seen = await unary(target.client(), { text: "done" }).observed;
    expect(seen.status.code).toBe(Status.OK);
    expect(await target.probe.cancelled.waitFor((c) => c.method === "unary")).toEqual({ method: "unary", flag: true });
  });

  it("client interceptors (client-wide and per call) see and change tunneled calls", async () => {
    const log: string[] = [];
    const interceptor =
      (name: string): grpc.Interceptor =>
      (options, nextCall) =>
        new grpc.InterceptingCall(nextCall(options), {
          start(metadata, _listener, next) {
            log.push(`${name} start ${options.method_definition.path}`);
            metadata.set(`x-${name}`, "yes");
            next(metadata, {
              onReceiveMessage(message: EchoResponse, nextMessage) {
                log.push(`${name} message ${message.text}`);
                nextMessage(message);
              },
              onReceiveStatus(status, nextStatus) {
                log.push(`${name} status ${status.code}`);
                nextStatus(status);
              },
            });
          },
        });
    const client = (await startEcho(cleanup, mode)).client({ interceptors: [interceptor("outer")] });
    const seen = await unary(client, { text: "i" }, new grpc.Metadata(), { interceptors: [interceptor("inner")] }).observed;
    // As in grpc-js, call interceptors replace the client's.
    expect(seen.responses[0].metadata).toEqual({ "x-inner": "yes" });
    const failed = await serverStream(client, { text: "f", count: 1, failCode: Status.INTERNAL, failMessage: "x" }).observed;
    expect(failed.status.code).toBe(Status.INTERNAL);
    expect(log).toEqual([
      "inner start /tunneltest.echo.EchoService/Unary",
      "inner message i",
      "inner status 0",
      "outer start /tunneltest.echo.EchoService/ServerStream",
      "outer message f",
      "outer status 13",
    ]);
  });
});

import { context, propagation, SpanKind, SpanStatusCode, trace, type SpanContext } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Code, createTunnelClient, TunnelError, withInterceptors, type CallChannel, type ServiceImpl } from "../../src/index.js";
import { clientTracing, serverTracing } from "../../src/otel.js";
import { forwardFixture } from "../support/forward-fixture.js";
import { connectAgent, drain, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

// The real OpenTelemetry SDK: spans go to its in-memory exporter; the
// context manager is the AsyncLocalStorage one Node applications use.
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const propagator = new W3CTraceContextPropagator();
const options = { tracerProvider, propagator };
const tracer = tracerProvider.getTracer("test");

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
  trace.disable();
  propagation.disable();
});
const cleanup = new Cleanup();
afterEach(async () => {
  await cleanup.run();
  exporter.reset();
});

/** What the handler saw: its active span, and the trace context that came in the request metadata. */
interface Seen {
  active: SpanContext | undefined;
  traceparent: string | undefined;
}

/** TestService whose handlers report the span active while they run (inside a streaming generator too). */
function recordingService(seen: Seen[]): Partial<ServiceImpl<typeof TestService>> {
  const record = (traceparent: unknown) =>
    seen.push({ active: trace.getActiveSpan()?.spanContext(), traceparent: traceparent === undefined ? undefined : String(traceparent) });
  return {
    unary(req, ctx) {
      record(ctx.metadata.get("traceparent")[0]);
      return testServiceImpl.unary(req, ctx);
    },
    async *serverStream(_req, ctx) {
      yield { count: 0 };
      record(ctx.metadata.get("traceparent")[0]); // after a yield: resumed by the runtime's send loop
      yield { count: 1 };
    },
  };
}

function spansNamed(name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.name === name);
}

function only(name: string): ReadableSpan {
  const spans = spansNamed(name);
  expect(spans, name).toHaveLength(1);
  return spans[0]!;
}

/** Caller span → CLIENT span → SERVER span, one trace, the server span active in the handler. */
function expectOneTrace(method: string, seen: Seen) {
  const caller = only("caller");
  const server = spansNamed(`grpchantesting.TestService/${method}`).find((s) => s.kind === SpanKind.SERVER);
  const clientSpan = spansNamed(`grpchantesting.TestService/${method}`).find((s) => s.kind === SpanKind.CLIENT);
  expect(server).toBeDefined();
  expect(clientSpan).toBeDefined();
  const traceId = caller.spanContext().traceId;
  expect(clientSpan!.spanContext().traceId).toBe(traceId);
  expect(server!.spanContext().traceId).toBe(traceId);
  expect(clientSpan!.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
  expect(server!.parentSpanContext?.spanId).toBe(clientSpan!.spanContext().spanId);
  expect(server!.parentSpanContext?.isRemote).toBe(true);
  expect(seen.active?.spanId).toBe(server!.spanContext().spanId);
  expect(seen.traceparent).toBe(`00-${traceId}-${clientSpan!.spanContext().spanId}-01`);
  for (const span of [clientSpan!, server!]) {
    expect(span.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "grpchantesting.TestService",
      "rpc.method": method,
      "rpc.grpc.status_code": Code.OK,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  }
  return { clientSpan: clientSpan!, server: server! };
}

async function asCaller<T>(work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan("caller", async (span) => {
    try {
      return await work();
    } finally {
      span.end();
    }
  });
}

// `only` counts spans with one name: a call's CLIENT and SERVER spans share theirs.
function onlyOneEach(method: string): void {
  const kinds = spansNamed(`grpchantesting.TestService/${method}`).map((s) => s.kind);
  expect(kinds.sort()).toEqual([SpanKind.SERVER, SpanKind.CLIENT].sort());
}

describe("OpenTelemetry tracing across a tunnel", () => {
  it("forward tunnel: caller span → client span → the agent handler's server span, one trace id", async () => {
    const seen: Seen[] = [];
    const { tunnel } = await forwardFixture(cleanup, { impl: recordingService(seen), handler: { interceptors: [serverTracing(options)] } });
    const client = createTunnelClient(TestService, withInterceptors(tunnel, clientTracing(options)));
    await asCaller(() => client.unary({}));
    onlyOneEach("Unary");
    expectOneTrace("Unary", seen[0]!);
  });

  it("reverse tunnel: the network server's caller span → client span → the agent handler's server span, one trace id", async () => {
    const seen: Seen[] = [];
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, { name: "a1", impl: recordingService(seen), rts: { interceptors: [serverTracing(options)] } });
    const client = createTunnelClient(TestService, withInterceptors(hub.handler.keyAsChannel("a1"), clientTracing(options)));
    await asCaller(() => client.unary({}));
    onlyOneEach("Unary");
    expectOneTrace("Unary", seen[0]!);

    exporter.reset();
    await asCaller(() => drain(client.serverStream({})));
    onlyOneEach("ServerStream");
    expectOneTrace("ServerStream", seen[1]!);
  });

  it("uses the globally registered provider and propagator by default", async () => {
    trace.setGlobalTracerProvider(tracerProvider);
    propagation.setGlobalPropagator(propagator);
    try {
      const seen: Seen[] = [];
      const { tunnel } = await forwardFixture(cleanup, { impl: recordingService(seen), handler: { interceptors: [serverTracing()] } });
      await asCaller(() => createTunnelClient(TestService, withInterceptors(tunnel, clientTracing())).unary({}));
      expectOneTrace("Unary", seen[0]!);
    } finally {
      trace.disable();
      propagation.disable();
    }
  });

  it("records the status code; client spans fail on any error, server spans only on server-side faults", async () => {
    const { tunnel } = await forwardFixture(cleanup, { handler: { interceptors: [serverTracing(options)] } });
    const client = createTunnelClient(TestService, withInterceptors(tunnel, clientTracing(options)));
    await expect(client.unary({ code: Code.NOT_FOUND })).rejects.toThrow(TunnelError);
    const notFound = spansNamed("grpchantesting.TestService/Unary");
    const clientSpan = notFound.find((s) => s.kind === SpanKind.CLIENT)!;
    const serverSpan = notFound.find((s) => s.kind === SpanKind.SERVER)!;
    expect(clientSpan.attributes["rpc.grpc.status_code"]).toBe(Code.NOT_FOUND);
    expect(clientSpan.status).toMatchObject({ code: SpanStatusCode.ERROR, message: "error" });
    expect(clientSpan.events.map((e) => e.name)).toEqual(["exception"]);
    expect(serverSpan.attributes["rpc.grpc.status_code"]).toBe(Code.NOT_FOUND);
    expect(serverSpan.status.code).toBe(SpanStatusCode.UNSET);
    // Without a caller span the client span starts the trace.
    expect(clientSpan.parentSpanContext).toBeUndefined();
    expect(serverSpan.spanContext().traceId).toBe(clientSpan.spanContext().traceId);

    exporter.reset();
    await expect(drain(client.serverStream({ code: Code.INTERNAL, count: 1 }))).rejects.toMatchObject({ code: Code.INTERNAL });
    const internal = spansNamed("grpchantesting.TestService/ServerStream");
    expect(internal).toHaveLength(2);
    for (const span of internal) {
      expect(span.attributes["rpc.grpc.status_code"]).toBe(Code.INTERNAL);
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
    }
  });

  it("ends a streaming call's spans when the caller leaves early, as CANCELLED", async () => {
    const { tunnel } = await forwardFixture(cleanup, { handler: { interceptors: [serverTracing(options)] } });
    const client = createTunnelClient(TestService, withInterceptors(tunnel, clientTracing(options)));
    for await (const _ of client.serverStream({ count: 100 })) {
      break;
    }
    const clientSpan = spansNamed("grpchantesting.TestService/ServerStream").find((s) => s.kind === SpanKind.CLIENT)!;
    expect(clientSpan.attributes["rpc.grpc.status_code"]).toBe(Code.CANCELLED);
    expect(clientSpan.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("starts no span and sends no trace context through a channel without the interceptor", async () => {
    const seen: Seen[] = [];
    const { tunnel } = await forwardFixture(cleanup, { impl: recordingService(seen), handler: { interceptors: [serverTracing(options)] } });
    const plain: CallChannel = tunnel;
    await asCaller(() => createTunnelClient(TestService, plain).unary({}));
    expect(seen[0]!.traceparent).toBeUndefined();
    const server = spansNamed("grpchantesting.TestService/Unary");
    expect(server.map((s) => s.kind)).toEqual([SpanKind.SERVER]);
    expect(server[0]!.spanContext().traceId).not.toBe(only("caller").spanContext().traceId); // a trace of its own
  });
});

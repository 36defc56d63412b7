import type { DescMethod } from "@bufbuild/protobuf";
import {
  type Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { CallInterceptor, CallResponse, HandlerInterceptor, HandlerResponse } from "../api/interceptors.js";
import { metadataGetter, metadataSetter, rpcAttributes } from "./rpc-attributes.js";

/** The instrumentation scope of the runtime's spans and metrics. */
export const INSTRUMENTATION_NAME = "@protoc-gen-tunnel/runtime";

/** Options of `clientTracing` and `serverTracing`. */
export interface TracingOptions {
  /** Where spans go; the globally registered provider by default. */
  tracerProvider?: TracerProvider;
  /** How the trace context travels in request metadata; the global propagator (usually W3C) by default. */
  propagator?: TextMapPropagator;
}

/**
 * A client interceptor that makes a CLIENT span per typed call, with the RPC
 * semantic conventions (`rpc.system` "grpc", `rpc.service`, `rpc.method`,
 * `rpc.grpc.status_code`), as a child of the active context, and injects
 * its trace context (W3C `traceparent` / `tracestate` with the default
 * propagator) into the tunneled call's request metadata. Streaming spans
 * end when the responses are exhausted.
 *
 * ```ts
 * const client = new FooServiceTunnelClient(withInterceptors(tunnel, clientTracing()));
 * ```
 */
export function clientTracing(options: TracingOptions = {}): CallInterceptor {
  const tracer = tracerOf(options);
  const propagator = options.propagator ?? propagation;
  return (next) => async (req) => {
    const { span, active } = startSpan(tracer, req.method, SpanKind.CLIENT, context.active());
    propagator.inject(active, req.header, metadataSetter);
    return inSpan(span, SpanKind.CLIENT, active, () => next(req));
  };
}

/**
 * A handler interceptor that makes a SERVER span per typed call, child of
 * the trace context the caller put in the request metadata (a new trace
 * without one), and makes it the active span while the handler runs —
 * also inside streaming handlers' generators, so the handler's own spans
 * and outgoing calls join the trace.
 *
 * ```ts
 * const handler = new TunnelServiceHandler({ interceptors: [serverTracing()] });
 * ```
 */
export function serverTracing(options: TracingOptions = {}): HandlerInterceptor {
  const tracer = tracerOf(options);
  const propagator = options.propagator ?? propagation;
  return (next) => async (req) => {
    const parent = propagator.extract(ROOT_CONTEXT, req.header, metadataGetter);
    const { span, active } = startSpan(tracer, req.method, SpanKind.SERVER, parent);
    return inSpan(span, SpanKind.SERVER, active, () => next(req));
  };
}

/** A span for a call of `method`, child of `parent`, and the context with it active. */
function startSpan(tracer: Tracer, method: DescMethod, kind: SpanKind, parent: Context): { span: Span; active: Context } {
  const { name, attributes } = described(method);
  const span = tracer.startSpan(name, { kind, attributes }, parent);
  return { span, active: trace.setSpan(parent, span) };
}

/**
 * Runs the rest of the call with `span` active and ends the span with the
 * outcome; for a streaming response, when its messages end (on the server,
 * each step of the handler's stream runs in the span's context too).
 */
async function inSpan<R extends CallResponse | HandlerResponse>(
  span: Span,
  kind: SpanKind,
  active: Context,
  next: () => Promise<R>,
): Promise<R> {
  try {
    const res = await context.with(active, next);
    if (!res.stream) {
      endSpan(span, kind, undefined);
      return res;
    }
    return { ...res, message: spannedStream(res.message, span, kind, kind === SpanKind.SERVER ? active : undefined) } as R;
  } catch (e) {
    endSpan(span, kind, e);
    throw e;
  }
}

function tracerOf(options: TracingOptions): Tracer {
  return (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME);
}

const descriptions = new WeakMap<DescMethod, { name: string; attributes: Attributes }>();

/** A method's span name ("pkg.Service/Method", as the RPC conventions name spans) and attributes, made once. */
function described(method: DescMethod): { name: string; attributes: Attributes } {
  let found = descriptions.get(method);
  if (found === undefined) {
    const service = method.parent.typeName;
    found = { name: `${service}/${method.name}`, attributes: rpcAttributes(service, method.name) };
    descriptions.set(method, found);
  }
  return found;
}

/**
 * The messages of a streaming response; the span ends with the stream. On
 * the server each step runs in the span's context (a generator's body runs
 * in the context of whoever calls `next`). A consumer that leaves early ends
 * the call with CANCELLED, which is recorded but not an error: it chose to.
 */
async function* spannedStream<T>(messages: AsyncIterable<T>, span: Span, kind: SpanKind, active: Context | undefined): AsyncGenerator<T> {
  const iterator = messages[Symbol.asyncIterator]();
  let ended = false;
  try {
    for (;;) {
      const result = active === undefined ? await iterator.next() : await context.with(active, () => iterator.next());
      if (result.done) {
        ended = true;
        endSpan(span, kind, undefined);
        return;
      }
      yield result.value;
    }
  } catch (e) {
    ended = true;
    endSpan(span, kind, e);
    throw e;
  } finally {
    if (!ended) {
      span.setAttribute("rpc.grpc.status_code", Code.CANCELLED);
      span.end();
      await iterator.return?.();
    }
  }
}

/** Codes that make a SERVER span an error, per the gRPC semantic conventions; every non-OK code does for CLIENT spans. */
const SERVER_ERROR_CODES: ReadonlySet<Code> = new Set([
  Code.UNKNOWN,
  Code.DEADLINE_EXCEEDED,
  Code.UNIMPLEMENTED,
  Code.INTERNAL,
  Code.UNAVAILABLE,
  Code.DATA_LOSS,
]);

function endSpan(span: Span, kind: SpanKind, thrown: unknown): void {
  if (thrown === undefined) {
    span.setAttribute("rpc.grpc.status_code", Code.OK);
    span.end();
    return;
  }
  const error = TunnelError.from(thrown);
  span.setAttribute("rpc.grpc.status_code", error.code);
  if (kind === SpanKind.CLIENT || SERVER_ERROR_CODES.has(error.code)) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.rawMessage });
    span.recordException(error);
  }
  span.end();
}

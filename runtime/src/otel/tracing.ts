import type { DescMethod } from "@bufbuild/protobuf";
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type SpanOptions,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { AnyResponse, Interceptor } from "../api/interceptors/index.js";
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
 * An interceptor for the calling side that makes a CLIENT span per typed call, with the RPC
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
export function clientTracing(options: TracingOptions = {}): Interceptor {
  const tracer = tracerOf(options);
  const propagator = options.propagator ?? propagation;
  return (next) => (req) => {
    const parent = context.active();
    const span = startSpan(tracer, req.method, SpanKind.CLIENT, parent);
    const active = trace.setSpan(parent, span);
    propagator.inject(active, req.header, metadataSetter);
    return runInSpan(span, SpanKind.CLIENT, active, next, req);
  };
}

/**
 * An interceptor for the serving side that makes a SERVER span per typed call, child of
 * the trace context the caller put in the request metadata (a new trace
 * without one), and makes it the active span while the handler runs —
 * also inside streaming handlers' generators, so the handler's own spans
 * and outgoing calls join the trace.
 *
 * ```ts
 * const handler = new TunnelServiceHandler({ interceptors: [serverTracing()] });
 * ```
 */
export function serverTracing(options: TracingOptions = {}): Interceptor {
  const tracer = tracerOf(options);
  const propagator = options.propagator ?? propagation;
  return (next) => (req) => {
    const parent = propagator.extract(ROOT_CONTEXT, req.header, metadataGetter);
    const span = startSpan(tracer, req.method, SpanKind.SERVER, parent);
    return runInSpan(span, SpanKind.SERVER, trace.setSpan(parent, span), next, req);
  };
}

/** A span for a call of `method`, child of `parent`. */
function startSpan(tracer: Tracer, method: DescMethod, kind: SpanKind, parent: Context): Span {
  const { name, client, server } = described(method);
  return tracer.startSpan(name, kind === SpanKind.CLIENT ? client : server, parent);
}

/**
 * Runs the rest of the call with `span` active and ends the span with the
 * outcome; for a streaming response, when its messages end (on the server,
 * each step of the handler's stream runs in the span's context too). Not an
 * async function, and no helper around `next`: each async step is a
 * promise, and promises cost much more while AsyncLocalStorage is active.
 */
function runInSpan<Req, Res extends AnyResponse>(
  span: Span,
  kind: SpanKind,
  active: Context,
  next: (req: Req) => Promise<Res>,
  req: Req,
): Promise<Res> {
  let running: Promise<Res>;
  try {
    running = context.with(active, next, undefined, req);
  } catch (e) {
    endSpan(span, kind, e);
    return Promise.reject(e);
  }
  return running.then(
    (res) => {
      if (res.stream) {
        return { ...res, message: spannedStream(res.message, span, kind, kind === SpanKind.SERVER ? active : undefined) };
      }
      endSpan(span, kind, undefined);
      return res;
    },
    (e: unknown) => {
      endSpan(span, kind, e);
      throw e;
    },
  );
}

function tracerOf(options: TracingOptions): Tracer {
  return (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME);
}

/** A method's span name ("pkg.Service/Method", as the RPC conventions name spans) and span options by kind. */
interface Described {
  name: string;
  // The SDK copies a span's attributes: one object serves every span.
  client: SpanOptions;
  server: SpanOptions;
}

const descriptions = new WeakMap<DescMethod, Described>();

/** A method's span name and options, made once per method. */
function described(method: DescMethod): Described {
  let found = descriptions.get(method);
  if (found === undefined) {
    const service = method.parent.typeName;
    const attributes = rpcAttributes(service, method.name);
    found = {
      name: `${service}/${method.name}`,
      client: { kind: SpanKind.CLIENT, attributes },
      server: { kind: SpanKind.SERVER, attributes },
    };
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

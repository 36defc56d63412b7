import * as grpc from "@grpc/grpc-js";
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Histogram,
  type MeterProvider,
  type Span,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type TracerProvider,
} from "@opentelemetry/api";

// The control of the instrumentation workload: plain grpc-js traced with the
// same SDK setup as the tunnel, by grpc-js interceptors made here the way
// OpenTelemetry's grpc instrumentation works (a CLIENT and a SERVER span per
// call, W3C trace context in the call's metadata, the SERVER span active
// while the handler runs, a duration histogram per end when metrics are on).
// What it costs direct grpc-js is what the SDK costs any traced gRPC call on
// this machine; the tunnel's figure next to it is comparable.

const getter: TextMapGetter<grpc.Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key);
    return values.length === 0 ? undefined : String(values[0]);
  },
};

const setter: TextMapSetter<grpc.Metadata> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

export interface GrpcTracingOptions {
  tracerProvider: TracerProvider;
  propagator: TextMapPropagator;
  meterProvider: MeterProvider;
  /** Whether metrics are on: each end then records a duration per call, as OpenTelemetry's grpc instrumentation does. */
  metricsOn: () => boolean;
}

/** A method's span name and attribute sets, made once per method as the runtime's tracing does. */
interface Described {
  name: string;
  attributes: Attributes;
  byCode: Map<number, Attributes>;
}

/** Span names and attributes by method path "/pkg.Service/Method". */
function describer(): (path: string) => Described {
  const described = new Map<string, Described>();
  return (path) => {
    let found = described.get(path);
    if (found === undefined) {
      const [, service = "", method = ""] = path.split("/");
      found = {
        name: `${service}/${method}`,
        attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method },
        byCode: new Map(),
      };
      described.set(path, found);
    }
    return found;
  };
}

/** The attributes of a call of `method` that ended with `code`. */
function withCode(method: Described, code: number): Attributes {
  let found = method.byCode.get(code);
  if (found === undefined) {
    found = { ...method.attributes, "rpc.grpc.status_code": code };
    method.byCode.set(code, found);
  }
  return found;
}

/** End a span with a gRPC status code, an error for non-OK codes. */
function endSpan(span: Span, code: grpc.status, details: string): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== grpc.status.OK) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: details });
  }
  span.end();
}

/** Records a call's duration when metrics are on. */
function recordDuration(options: GrpcTracingOptions, histogram: Histogram, started: number, method: Described, code: number): void {
  if (options.metricsOn()) {
    histogram.record((performance.now() - started) / 1000, withCode(method, code));
  }
}

/** A grpc-js client interceptor: a CLIENT span per call, its context injected into the metadata. */
export function grpcClientTracing(options: GrpcTracingOptions): grpc.Interceptor {
  const tracer = options.tracerProvider.getTracer("bench-grpc-control");
  const histogram = options.meterProvider.getMeter("bench-grpc-control").createHistogram("rpc.client.duration", { unit: "s" });
  const describe = describer();
  return (callOptions, nextCall) => {
    const method = describe(callOptions.method_definition.path);
    const span = tracer.startSpan(method.name, { kind: SpanKind.CLIENT, attributes: method.attributes }, context.active());
    const started = performance.now();
    return new grpc.InterceptingCall(nextCall(callOptions), {
      start(metadata, _listener, next) {
        options.propagator.inject(trace.setSpan(context.active(), span), metadata, setter);
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            endSpan(span, status.code, status.details);
            recordDuration(options, histogram, started, method, status.code);
            nextStatus(status);
          },
        });
      },
    });
  };
}

/** A grpc-js server interceptor: a SERVER span per call, child of the caller's, active while the handler runs. */
export function grpcServerTracing(options: GrpcTracingOptions): grpc.ServerInterceptor {
  const tracer = options.tracerProvider.getTracer("bench-grpc-control");
  const histogram = options.meterProvider.getMeter("bench-grpc-control").createHistogram("rpc.server.duration", { unit: "s" });
  const describe = describer();
  return (methodDefinition, call) => {
    const method = describe(methodDefinition.path);
    let span: Span | undefined;
    let active: Context = ROOT_CONTEXT;
    const started = performance.now();
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const parent = options.propagator.extract(ROOT_CONTEXT, metadata, getter);
            span = tracer.startSpan(method.name, { kind: SpanKind.SERVER, attributes: method.attributes }, parent);
            active = trace.setSpan(parent, span);
            nextMetadata(metadata);
          },
          // The handler runs when the request (unary) or the half-close arrives: in the span's context.
          onReceiveMessage(message, nextMessage) {
            context.with(active, nextMessage, undefined, message);
          },
          onReceiveHalfClose(nextHalfClose) {
            context.with(active, nextHalfClose);
          },
        });
      },
      sendStatus(status, nextStatus) {
        const code = status.code ?? grpc.status.UNKNOWN;
        if (span !== undefined) {
          endSpan(span, code, status.details ?? "");
        }
        recordDuration(options, histogram, started, method, code);
        nextStatus(status);
      },
    });
  };
}

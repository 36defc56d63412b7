import * as grpc from "@grpc/grpc-js";
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
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
  /** Set while metrics are on: each end records a duration per call, as OpenTelemetry's grpc instrumentation does. */
  meterProvider?: () => MeterProvider | undefined;
}

/** Span attributes of a method path "/pkg.Service/Method". */
function attributesOf(path: string): { name: string; attributes: Record<string, string> } {
  const [, service = "", method = ""] = path.split("/");
  return { name: `${service}/${method}`, attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method } };
}

/** End a span with a gRPC status code, an error for non-OK codes. */
function endSpan(span: Span, code: grpc.status, details: string): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== grpc.status.OK) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: details });
  }
  span.end();
}

function histogramOf(options: GrpcTracingOptions, name: string, made: Map<MeterProvider, Histogram>): Histogram | undefined {
  const provider = options.meterProvider?.();
  if (provider === undefined) {
    return undefined;
  }
  let found = made.get(provider);
  if (found === undefined) {
    found = provider.getMeter("bench-grpc-control").createHistogram(name, { unit: "s" });
    made.set(provider, found);
  }
  return found;
}

/** A grpc-js client interceptor: a CLIENT span per call, its context injected into the metadata. */
export function grpcClientTracing(options: GrpcTracingOptions): grpc.Interceptor {
  const tracer = options.tracerProvider.getTracer("bench-grpc-control");
  const histograms = new Map<MeterProvider, Histogram>();
  return (callOptions, nextCall) => {
    const { name, attributes } = attributesOf(callOptions.method_definition.path);
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, context.active());
    const started = performance.now();
    return new grpc.InterceptingCall(nextCall(callOptions), {
      start(metadata, _listener, next) {
        options.propagator.inject(trace.setSpan(context.active(), span), metadata, setter);
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            endSpan(span, status.code, status.details);
            histogramOf(options, "rpc.client.duration", histograms)?.record((performance.now() - started) / 1000, {
              ...attributes,
              "rpc.grpc.status_code": status.code,
            });
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
  const histograms = new Map<MeterProvider, Histogram>();
  return (methodDefinition, call) => {
    const { name, attributes } = attributesOf(methodDefinition.path);
    let span: Span | undefined;
    let active: Context = ROOT_CONTEXT;
    const started = performance.now();
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const parent = options.propagator.extract(ROOT_CONTEXT, metadata, getter);
            span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
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
        if (span !== undefined) {
          endSpan(span, status.code ?? grpc.status.UNKNOWN, status.details ?? "");
        }
        histogramOf(options, "rpc.server.duration", histograms)?.record((performance.now() - started) / 1000, {
          ...attributes,
          "rpc.grpc.status_code": status.code ?? grpc.status.UNKNOWN,
        });
        nextStatus(status);
      },
    });
  };
}

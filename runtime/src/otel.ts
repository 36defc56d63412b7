/**
 * OpenTelemetry for tunneled calls: tracing as interceptors (a CLIENT and a
 * SERVER span per call, the W3C trace context in the call's request
 * metadata) and metrics from the diagnostics channels. A separate entry
 * point ("@protoc-gen-tunnel/runtime/otel") so that only its users need
 * `@opentelemetry/api` 1.x installed.
 *
 * @module @protoc-gen-tunnel/runtime/otel
 */
export { clientTracing, serverTracing, INSTRUMENTATION_NAME, type TracingOptions } from "./otel/tracing.js";
export { tunnelMetrics, type TunnelMetrics, type TunnelMetricsOptions } from "./otel/metrics.js";

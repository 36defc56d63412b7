import type { BenchClient } from "../direct-client.js";
import { startForward, type VariantId } from "../fixtures.js";
import { countingSubscriber, openTelemetry, type OpenTelemetrySetup } from "../instrumentation.js";
import { type Figure, figure } from "../results.js";
import { runRounds } from "../rounds.js";
import { payloadOf } from "../service.js";
import { closedLoop, type LoadResult, type Workload } from "./workload.js";

const CALLERS = 32;
const PAYLOAD_BYTES = 100;

/**
 * What each sample switches on, each mode adding to the one before from
 * "context" on: OpenTelemetry's context manager alone (what an application
 * with OpenTelemetry pays whatever it instruments), then the tracing
 * interceptors, then the metrics too ("otel", what issue 19's target is about).
 */
const MODES = ["none", "diagnostics", "context", "tracing", "otel"] as const;
type Mode = (typeof MODES)[number];

const LABELS: Record<Mode, string> = {
  none: "nothing subscribed",
  diagnostics: "diagnostics subscriber",
  context: "OTel context manager only",
  tracing: "OTel context + tracing",
  otel: "OpenTelemetry traces + metrics",
};

/** Switches `mode` on (traced clients are the caller's business); returns what switches it off. */
function enable(mode: Mode, otel: OpenTelemetrySetup): () => void {
  switch (mode) {
    case "none":
      return () => {};
    case "diagnostics":
      return countingSubscriber().stop;
    case "context":
    case "tracing":
      return otel.enableContext();
    case "otel": {
      const disableContext = otel.enableContext();
      const stopMetrics = otel.enableMetrics();
      return () => {
        stopMetrics();
        disableContext();
      };
    }
  }
}

/**
 * What instrumentation costs on unary calls/s and CPU per call (32
 * callers). Each sample runs every mode back to back, in an order that
 * turns each round. Direct grpc-js has no instrumentation of the runtime: it
 * runs the same samples as the control, so its ratios show the noise and,
 * against nothing, what AsyncLocalStorage costs every promise in the
 * process. "OpenTelemetry ÷ context manager only" is the runtime's own cost.
 */
export const instrumentation: Workload = {
  id: "instrumentation",
  title: `Instrumentation overhead: unary, ${PAYLOAD_BYTES} B, ${CALLERS} callers`,
  async run(ctx) {
    const otel = openTelemetry();
    const plain = await startForward(ctx.variants);
    const traced = await startForward(
      ctx.variants.filter((v) => v !== "direct"),
      { interceptors: otel.interceptors },
    );
    const payload = payloadOf(PAYLOAD_BYTES);
    const turns = new Map<VariantId, number>();
    try {
      const samples = await runRounds(ctx, ctx.variants, async (variant) => {
        const turn = turns.get(variant) ?? 0;
        turns.set(variant, turn + 1);
        const results: Partial<Record<Mode, LoadResult>> = {};
        for (let i = 0; i < MODES.length; i++) {
          const mode = MODES[(turn + i) % MODES.length]!;
          const isTraced = (mode === "tracing" || mode === "otel") && variant !== "direct";
          const client: BenchClient = isTraced ? traced.clients[variant] : plain.clients[variant];
          const disable = enable(mode, otel);
          try {
            results[mode] = await closedLoop(ctx.config.sampleMs, CALLERS, () => client.unary({ payload }));
          } finally {
            disable();
          }
        }
        return results as Record<Mode, LoadResult>;
      });
      const rate = (mode: Mode): Figure =>
        figure({ id: `rate-${mode}`, label: `calls/s, ${LABELS[mode]}`, unit: "calls/s", better: "higher" }, samples, (s) => s[mode].rate);
      const cpu = (mode: Mode): Figure =>
        figure(
          { id: `cpu-${mode}`, label: `CPU µs per call, ${LABELS[mode]}`, unit: "µs", better: "lower" },
          samples,
          (s) => s[mode].cpuPerCallUs,
        );
      const ratio = (id: string, of: Mode, to: Mode): Figure =>
        figure({ id, label: `${LABELS[of]} ÷ ${LABELS[to]}`, unit: "×", better: "higher" }, samples, (s) => s[of].rate / s[to].rate);
      return {
        id: this.id,
        title: this.title,
        params: { payloadBytes: PAYLOAD_BYTES, callers: CALLERS },
        figures: [
          ...MODES.map(rate),
          ...MODES.map(cpu),
          ratio("diagnostics-ratio", "diagnostics", "none"),
          ratio("otel-ratio", "otel", "none"),
          ratio("context-ratio", "context", "none"),
          ratio("otel-own-ratio", "otel", "context"),
          ratio("tracing-own-ratio", "tracing", "context"),
        ],
      };
    } finally {
      plain.close();
      traced.close();
      await otel.shutdown();
    }
  },
};

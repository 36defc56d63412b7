import type { BenchClient } from "../direct-client.js";
import { startForward, type VariantId } from "../fixtures.js";
import { countingSubscriber, openTelemetry } from "../instrumentation.js";
import { figure } from "../results.js";
import { runRounds } from "../rounds.js";
import { payloadOf } from "../service.js";
import { closedLoop, type Workload } from "./workload.js";

const CALLERS = 32;
const PAYLOAD_BYTES = 100;
const MODES = ["none", "diagnostics", "otel"] as const;
type Mode = (typeof MODES)[number];

/**
 * What instrumentation costs on unary calls/s (32 callers): with nothing
 * subscribed, with a diagnostics subscriber, and with OpenTelemetry tracing
 * (client and server spans through the interceptors) plus metrics (from the
 * diagnostics channels). Each sample runs the three modes back to back, in
 * an order that turns each round. Direct grpc-js has no instrumentation of
 * the runtime: it runs the same three samples as the control, so its ratios
 * show the noise (and, for OpenTelemetry, what AsyncLocalStorage costs every
 * promise in the process).
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
        const rates: Partial<Record<Mode, number>> = {};
        for (let i = 0; i < MODES.length; i++) {
          const mode = MODES[(turn + i) % MODES.length]!;
          const client: BenchClient = mode === "otel" && variant !== "direct" ? traced.clients[variant] : plain.clients[variant];
          const stop = mode === "diagnostics" ? countingSubscriber().stop : mode === "otel" ? otel.enable() : () => {};
          try {
            rates[mode] = (await closedLoop(ctx.config.sampleMs, CALLERS, () => client.unary({ payload }))).rate;
          } finally {
            stop();
          }
        }
        return rates as Record<Mode, number>;
      });
      return {
        id: this.id,
        title: this.title,
        params: { payloadBytes: PAYLOAD_BYTES, callers: CALLERS },
        figures: [
          figure({ id: "rate-none", label: "calls/s, nothing subscribed", unit: "calls/s", better: "higher" }, samples, (s) => s.none),
          figure(
            { id: "rate-diagnostics", label: "calls/s, diagnostics subscriber", unit: "calls/s", better: "higher" },
            samples,
            (s) => s.diagnostics,
          ),
          figure(
            { id: "rate-otel", label: "calls/s, OpenTelemetry traces + metrics", unit: "calls/s", better: "higher" },
            samples,
            (s) => s.otel,
          ),
          figure(
            { id: "diagnostics-ratio", label: "diagnostics subscriber ÷ nothing subscribed", unit: "×", better: "higher" },
            samples,
            (s) => s.diagnostics / s.none,
          ),
          figure(
            { id: "otel-ratio", label: "OpenTelemetry ÷ nothing subscribed", unit: "×", better: "higher" },
            samples,
            (s) => s.otel / s.none,
          ),
        ],
      };
    } finally {
      plain.close();
      traced.close();
      await otel.shutdown();
    }
  },
};

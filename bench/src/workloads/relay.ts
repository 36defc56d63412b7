import type { TunnelVariantId } from "../fixtures.js";
import { relayLoad, type RelayLoad } from "../relay-owner.js";
import { startRelay, type RelaySetup } from "../relay-fixtures.js";
import { figure } from "../results.js";
import { runRounds } from "../rounds.js";
import type { Workload } from "./workload.js";

const AGENTS = 16;
const CALLERS = 32;
const MODES = ["local", "relayed"] as const;
type Mode = (typeof MODES)[number];

/**
 * Cluster mode: unary calls to agents held by another replica (relayed: a
 * directory lookup, cached, then the relay tunnel to that replica) against
 * the same calls made on the replica that holds them (local reverse
 * tunnels), in the same run: calls/s with 32 callers and latency p50 with
 * one. The two replicas have an event loop each (the owner, with the
 * agents, in a worker thread). Each sample runs both modes back to back, in
 * an order that turns each round. The variants are the agents' tunnel
 * revision (relay tunnels between replicas are revision 1); there is no
 * direct counterpart.
 */
export const relayUnary: Workload = {
  id: "relay-unary",
  title: `Cluster mode: unary relayed to another replica vs local, ${AGENTS} agents`,
  async run(ctx) {
    const variants = ctx.variants.filter((v): v is TunnelVariantId => v !== "direct");
    const setups = new Map<TunnelVariantId, RelaySetup>();
    const turns = new Map<TunnelVariantId, number>();
    try {
      for (const variant of variants) {
        ctx.progress.note(`starting Redis, two replicas and ${AGENTS} agents (${variant})`);
        setups.set(variant, await startRelay(AGENTS, variant === "rev0"));
      }
      const samples = await runRounds(ctx, variants, async (variant) => {
        const setup = setups.get(variant as TunnelVariantId)!;
        const turn = turns.get(variant as TunnelVariantId) ?? 0;
        turns.set(variant as TunnelVariantId, turn + 1);
        const result: Partial<Record<Mode, RelayLoad>> = {};
        for (let i = 0; i < MODES.length; i++) {
          const mode = MODES[(turn + i) % MODES.length]!;
          result[mode] =
            mode === "local"
              ? await setup.local(ctx.config.sampleMs, CALLERS)
              : await relayLoad(setup.relayed, ctx.config.sampleMs, CALLERS);
        }
        return result as Record<Mode, RelayLoad>;
      });
      return {
        id: this.id,
        title: this.title,
        params: { agents: AGENTS, callers: CALLERS, payloadBytes: 100 },
        figures: [
          figure({ id: "rate-local", label: "calls/s, local", unit: "calls/s", better: "higher" }, samples, (s) => s.local.rate),
          figure({ id: "rate-relayed", label: "calls/s, relayed", unit: "calls/s", better: "higher" }, samples, (s) => s.relayed.rate),
          figure(
            { id: "relayed-ratio", label: "relayed ÷ local calls/s", unit: "×", better: "higher" },
            samples,
            (s) => s.relayed.rate / s.local.rate,
          ),
          figure({ id: "p50-local", label: "latency p50, local (1 caller)", unit: "ms", better: "lower" }, samples, (s) => s.local.p50),
          figure(
            { id: "p50-relayed", label: "latency p50, relayed (1 caller)", unit: "ms", better: "lower" },
            samples,
            (s) => s.relayed.p50,
          ),
        ],
      };
    } finally {
      for (const setup of setups.values()) {
        await setup.close();
      }
    }
  },
};

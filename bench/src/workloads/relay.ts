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
      // No forced collections between samples here, unlike the other
      // workloads: a forced full GC costs the second after it far more
      // than the garbage it removes (likely the heap's young generation
      // growing back), and collecting this thread only, as runRounds does,
      // charged that to the relayed mode alone (this thread is the caller's
      // replica; local calls run on the owner's): measured, about 100 µs of
      // CPU per relayed call in a 1 s sample. Collecting both replicas'
      // threads before each mode still added 60-80 µs to every local call
      // and 250-300 to every relayed one. Garbage of one mode is
      // collected during the next instead, as in a replica that runs, and
      // the modes take turns going first.
      const samples = await runRounds(
        ctx,
        variants,
        async (variant) => {
          const setup = setups.get(variant as TunnelVariantId)!;
          const turn = turns.get(variant as TunnelVariantId) ?? 0;
          turns.set(variant as TunnelVariantId, turn + 1);
          const result: Partial<Record<Mode, RelayLoad>> = {};
          for (let i = 0; i < MODES.length; i++) {
            const mode = MODES[(turn + i) % MODES.length]!;
            result[mode] =
              mode === "local"
                ? await setup.local(ctx.config.sampleMs, CALLERS)
                : await relayLoad(setup.relayed, ctx.config.sampleMs, CALLERS, setup.ownerCpu);
          }
          return result as Record<Mode, RelayLoad>;
        },
        { collect: async () => {} },
      );
      type Sample = Record<Mode, RelayLoad>;
      // Each figure for both modes, then the relayed ÷ local ratio (of capacity: for costs, local ÷ relayed).
      const compared = (id: string, label: string, unit: string, better: "higher" | "lower", value: (load: RelayLoad) => number) => [
        figure({ id: `${id}-local`, label: `${label}, local`, unit, better }, samples, (s: Sample) => value(s.local)),
        figure({ id: `${id}-relayed`, label: `${label}, relayed`, unit, better }, samples, (s: Sample) => value(s.relayed)),
      ];
      const ownerCpu = (load: RelayLoad) => load.ownerCpuPerCallUs ?? Number.NaN;
      const perThread = Object.values(samples).every((list) => list.every((s) => !Number.isNaN(ownerCpu(s.local) + ownerCpu(s.relayed))));
      return {
        id: this.id,
        title: this.title,
        params: { agents: AGENTS, callers: CALLERS, payloadBytes: 100 },
        figures: [
          ...compared("rate", "calls/s", "calls/s", "higher", (load) => load.rate),
          figure(
            { id: "relayed-ratio", label: "relayed ÷ local calls/s", unit: "×", better: "higher" },
            samples,
            (s) => s.relayed.rate / s.local.rate,
          ),
          ...compared("cpu", "CPU per call, all threads", "µs", "lower", (load) => load.cpuPerCallUs),
          ...(perThread
            ? [
                ...compared("owner-cpu", "CPU per call, the owner's thread", "µs", "lower", ownerCpu),
                figure(
                  { id: "owner-cpu-ratio", label: "relayed ÷ local calls per second of the owner's CPU", unit: "×", better: "higher" },
                  samples,
                  (s) => ownerCpu(s.local) / ownerCpu(s.relayed),
                ),
              ]
            : []),
          ...compared("p50", "latency p50 (1 caller)", "ms", "lower", (load) => load.p50),
        ],
      };
    } finally {
      for (const setup of setups.values()) {
        await setup.close();
      }
    }
  },
};

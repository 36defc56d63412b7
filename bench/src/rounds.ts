import type { BenchConfig } from "./config.js";
import type { BenchClient } from "./direct-client.js";
import { type ForwardSetup, type ForwardVariantId, type Processes, startForward, type VariantId } from "./fixtures.js";
import { fullGc } from "./gc.js";
import type { Progress } from "./progress.js";

export interface RunContext {
  config: BenchConfig;
  progress: Progress;
  /** The variants to run (all three unless narrowed down, e.g. to profile one). */
  variants: readonly VariantId[];
}

/**
 * Runs `sample` for every variant in every round, warm-up rounds first
 * (discarded). Variants take turns within a round, starting with a
 * different one each round, so a change in machine load hits all of them
 * alike and each round's tunnel÷direct ratio compares like with like.
 */
export async function runRounds<T, V extends string = VariantId>(
  ctx: RunContext,
  variants: readonly V[],
  sample: (variant: V) => Promise<T>,
  /**
   * Overrides the configured rounds (e.g. a sample that warms itself up
   * needs no warm-up round); `collect` collects garbage before a sample
   * (default: in this process; a two-process setup collects in both).
   */
  {
    warmupRounds = ctx.config.warmupRounds,
    rounds = ctx.config.rounds,
    collect = async () => fullGc(),
  }: { warmupRounds?: number; rounds?: number; collect?: () => Promise<void> } = {},
): Promise<Record<V, T[]>> {
  const results = Object.fromEntries(variants.map((v) => [v, [] as T[]])) as Record<V, T[]>;
  for (let round = 0; round < warmupRounds + rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(round + i) % variants.length]!;
      ctx.progress.round(round, warmupRounds, rounds, variant);
      if (ctx.config.gcBetweenSamples) {
        await collect();
      }
      const value = await sample(variant);
      if (round >= warmupRounds) {
        results[variant].push(value);
      }
    }
  }
  return results;
}

/**
 * Runs `sample` in rounds (see runRounds) on a bench server and a client of
 * each variant (default: the context's), the server in this process or its
 * own (`processes`); garbage is collected at both ends before each sample,
 * and everything is closed afterwards.
 */
export async function forwardRounds<T, V extends ForwardVariantId = VariantId>(
  ctx: RunContext,
  processes: Processes,
  sample: (client: BenchClient, setup: ForwardSetup) => Promise<T>,
  variants: readonly V[] = ctx.variants as readonly V[],
): Promise<Record<V, T[]>> {
  const setup = await startForward(variants, { processes });
  try {
    return await runRounds(ctx, variants, (variant) => sample(setup.clients[variant], setup), { collect: setup.collect });
  } finally {
    setup.close();
  }
}

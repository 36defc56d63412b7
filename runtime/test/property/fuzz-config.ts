import type { Parameters as FcParameters } from "fast-check";

/**
 * CI runs a fixed seed and a modest number of runs, so failures reproduce;
 * `npm run fuzz` sets FUZZ_RUNS (and optionally FUZZ_SEED) for long runs.
 */
export function fuzzParameters<T>(defaultRuns: number): FcParameters<T> {
  const runs = Number(process.env.FUZZ_RUNS ?? defaultRuns);
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : process.env.FUZZ_RUNS ? undefined : 20261125;
  return { numRuns: runs, seed, endOnFailure: true };
}

/** Long runs need a longer per-test timeout than vitest's default. */
export const fuzzTimeout = process.env.FUZZ_RUNS ? 3_600_000 : 60_000;

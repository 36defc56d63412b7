export interface MutationTarget {
  name: string;
  /** Stryker `mutate` globs. */
  mutate: string[];
  /** The test files that judge the mutants. */
  tests: string[];
  /** Stryker's break threshold: a lower score fails the run. */
  break: number;
}

export const TARGETS: Record<string, Omit<MutationTarget, "name">>;

export function currentTarget(): MutationTarget;

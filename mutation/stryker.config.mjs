// StrykerJS for one folder group (MUTATION_TARGET, see targets.mjs); run it
// through `npm run test:mutation`, which runs every group and writes the
// scores into docs/mutation-testing.md.
import { currentTarget } from "./targets.mjs";

const target = currentTarget();

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "mutation/vitest.config.ts", related: false, pool: "forks" },
  coverageAnalysis: "perTest",
  checkers: ["typescript"],
  tsconfigFile: "runtime/tsconfig.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: target.mutate,
  // The sandbox needs the runtime, the interop TestService its tests use, and the root configs.
  // (Vite reads the root tsconfig.json, whose references must exist.)
  ignorePatterns: [
    ...["bench", "examples", "protoc-gen-tunnel"].flatMap((dir) => [`/${dir}/*`, `!/${dir}/tsconfig.json`]),
    "/docs",
    "/proto",
    "/reports",
    "/.cache",
    "dist",
    "*.tsbuildinfo",
  ],
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
  timeoutMS: 10_000,
  dryRunTimeoutMinutes: 20,
  incremental: true,
  incrementalFile: `mutation/incremental/${target.name}.json`,
  thresholds: { high: 90, low: target.break, break: target.break },
  // The JSON report is the incremental file (scripts/mutation.mjs reads it); html to browse.
  reporters: ["clear-text", "progress", "html"],
  htmlReporter: { fileName: `reports/mutation/${target.name}.html` },
  clearTextReporter: { allowEmojis: false, logTests: false, reportScoreTable: true },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};

import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import base from "../vitest.config.js";
import { currentTarget } from "./targets.mjs";

// Stryker's test runs: the repository's config (aliases, timeouts), limited
// to the fast tests of the folder group being mutated, without the summary
// line CI reads (Stryker reports its own).
export default defineConfig({
  ...base,
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    ...base.test,
    include: currentTarget().tests,
    reporters: ["default"],
    // Stryker times each mutant from the dry run; this only keeps a loaded
    // machine from failing the dry run itself.
    testTimeout: 60_000,
    // One module graph for all test files: importing the runtime afresh per
    // file costs more than most tests (2x the whole dry run). Set
    // MUTATION_ISOLATE=1 to check that a mutant does not live on shared state.
    isolate: process.env.MUTATION_ISOLATE === "1",
  },
});

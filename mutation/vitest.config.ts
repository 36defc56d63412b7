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
  },
});

import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig, mergeConfig } from "vitest/config";
import { fullTierOnly } from "./scripts/test-tiers.js";
import base from "./vitest.config.js";

// The fast tier, `npm run test:unit`: every test that starts no process and
// needs nothing outside Node (no Redis, browser, Go, Python, tsc or buf),
// and is not a stress test (scripts/test-tiers.ts decides, from what each
// test imports). `npm test` still runs everything.
const root = fileURLToPath(new URL(".", import.meta.url));

export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [...fullTierOnly(root).keys()],
      // Every core: these tests start no process and time nothing, so they
      // do not compete (vitest's default leaves one core idle: on 2 cores
      // the tier took 78 s, on both 47 s).
      maxWorkers: availableParallelism(),
    },
  }),
);

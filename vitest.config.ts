import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import workspace packages from source (one module instance per
// package, no stale dist); child-process tests run the built programs.
const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      "@protoc-gen-tunnel/runtime": source("./runtime/src/index.ts"),
      "@protoc-gen-tunnel/interop": source("./interop/src/index.ts"),
    },
  },
  test: {
    include: ["*/src/**/*.test.ts", "*/test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default", source("./scripts/summary-reporter.ts")],
  },
});

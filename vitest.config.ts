import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import workspace packages from source (one module instance per
// package, no stale dist); child-process tests run the built programs.
const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Exact matches: a plain key would also rewrite subpath imports.
    alias: [
      { find: /^@protoc-gen-tunnel\/runtime$/, replacement: source("./runtime/src/index.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/protocol$/, replacement: source("./runtime/src/protocol.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/tunnelpb$/, replacement: source("./runtime/src/tunnelpb.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/connect$/, replacement: source("./runtime/src/connect.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/errordetails$/, replacement: source("./runtime/src/errordetails.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/cluster$/, replacement: source("./runtime/src/cluster.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/otel$/, replacement: source("./runtime/src/otel.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/status$/, replacement: source("./runtime/src/status.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/gateway$/, replacement: source("./runtime/src/gateway.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/fleet$/, replacement: source("./runtime/src/fleet.ts") },
      { find: /^@protoc-gen-tunnel\/runtime\/testing$/, replacement: source("./runtime/src/testing.ts") },
      { find: /^@protoc-gen-tunnel\/interop$/, replacement: source("./interop/src/index.ts") },
    ],
  },
  test: {
    include: ["*/src/**/*.test.ts", "*/test/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default", source("./scripts/summary-reporter.ts")],
  },
});

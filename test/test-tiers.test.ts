// The fast tier (`npm run test:unit`, vitest.unit.config.ts) takes the tests
// that need nothing outside Node, told apart by what they import
// (scripts/test-tiers.ts); `npm test` runs them all.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { fullTierOnly, outsideNode, STRESS, testFiles } from "../scripts/test-tiers.js";
import fullConfig from "../vitest.config.js";
import unitConfig from "../vitest.unit.config.js";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("test tiers", () => {
  const full = fullTierOnly(root);
  const all = testFiles(root);

  it("leave out of the fast tier the tests that run programs, Redis or a browser, and the stress tests", () => {
    for (const file of [
      "test/packaging.test.ts", // npm, tsc, buf
      "test/api-docs.test.ts", // typedoc
      "runtime/test/observability/status-page.browser.test.ts", // Chromium
      "runtime/test/cluster/directory.test.ts", // redis-server
      "runtime/test/memory/attacks.test.ts", // a server in its own process
      "interop/test/programs.test.ts", // the interop programs
      "examples/test/cluster.test.ts", // the demo's own redis-server, through its sources
      ...STRESS.keys(),
    ]) {
      expect(full.has(file), file).toBe(true);
    }
  });

  it("keep in it tests that run in-process, on real grpc-js servers", () => {
    for (const file of ["runtime/test/forward-calls.test.ts", "runtime/test/layers.test.ts", "interop/test/conformance.test.ts"]) {
      expect(full.get(file), file).toBeUndefined();
    }
    const unit = all.filter((file) => !full.has(file));
    expect(unit.length).toBeGreaterThan(50);
    expect(full.size).toBeGreaterThan(20);
  });

  it("the fast tier's configuration excludes exactly the full-tier-only files; npm test's config excludes none of them", () => {
    const exclude: string[] = unitConfig.test?.exclude ?? [];
    expect(exclude.filter((pattern) => full.has(pattern)).sort()).toEqual([...full.keys()].sort());
    expect(fullConfig.test?.exclude).toEqual(["**/node_modules/**", "**/dist/**"]);
  });

  it("follow imports through test support and sources, and say how a file reaches what it needs", () => {
    const dir = mkdtempSync(join(tmpdir(), "test-tiers-"));
    try {
      mkdirSync(join(dir, "support"));
      writeFileSync(join(dir, "support/spawn.ts"), 'import { spawn } from "node:child_process";\nexport { spawn };\n');
      writeFileSync(join(dir, "support/plain.ts"), "export const x = 1;\n");
      writeFileSync(join(dir, "a.test.ts"), 'import { x } from "./support/plain.js";\nimport { spawn } from "./support/spawn.js";\n');
      writeFileSync(join(dir, "b.test.ts"), 'import { x } from "./support/plain.js";\nconst m = await import("node:fs");\n');
      writeFileSync(join(dir, "c.test.ts"), 'const r = await import("redis");\n');
      expect(outsideNode(dir, join(dir, "a.test.ts"))).toEqual(["support/spawn.ts", "node:child_process"]);
      expect(outsideNode(dir, join(dir, "b.test.ts"))).toBeUndefined();
      expect(outsideNode(dir, join(dir, "c.test.ts"))).toEqual(["redis"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

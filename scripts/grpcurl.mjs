// Real grpcurl for the gateway's tests and docs: pinned, installed on first
// use with `go install` (Go and the Go module proxy) into the ignored
// .cache/go folder at the repository's root. Without Go it fails naming the
// command that installs it; tests never skip.
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = join(ROOT, ".cache", "go");
export const GRPCURL_VERSION = "v1.9.3";
export const GRPCURL_MODULE = "github.com/fullstorydev/grpcurl/cmd/grpcurl";
export const INSTALL_GO = "apt-get update && apt-get install -y golang";

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The `go` command: GO_BINARY, `go` on PATH, or the usual install folders. */
function goBinary() {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/go/bin", "/usr/lib/go/bin"];
  const found = [process.env.GO_BINARY, ...dirs.filter((d) => d !== "").map((d) => join(d, "go"))].find((p) => p && isExecutable(p));
  if (found === undefined) {
    throw new Error(`grpcurl is installed with Go, which is missing: ${INSTALL_GO}`);
  }
  return found;
}

/** The path of grpcurl GRPCURL_VERSION, installed on first use. */
export async function ensureGrpcurl() {
  const dir = join(CACHE, `grpcurl-${GRPCURL_VERSION}`);
  const binary = join(dir, "grpcurl");
  if (isExecutable(binary)) {
    return binary;
  }
  const go = goBinary();
  await mkdir(CACHE, { recursive: true });
  const staging = await mkdtemp(join(CACHE, "installing-grpcurl-"));
  try {
    await new Promise((resolve, reject) =>
      execFile(
        go,
        ["install", `${GRPCURL_MODULE}@${GRPCURL_VERSION}`],
        { env: { ...process.env, GOBIN: staging, GOTOOLCHAIN: "local" }, maxBuffer: 16 << 20 },
        (error, _stdout, stderr) => (error ? reject(new Error(stderr.trim() || error.message)) : resolve()),
      ),
    );
    if (!isExecutable(binary)) {
      await rename(staging, dir).catch(() => {}); // another process may have installed it meanwhile
    }
  } catch (error) {
    throw new Error(`could not install grpcurl (GOBIN=${dir} go install ${GRPCURL_MODULE}@${GRPCURL_VERSION}): ${error.message}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return binary;
}

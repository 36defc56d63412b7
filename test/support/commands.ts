import { execFile } from "node:child_process";
import { delimiter } from "node:path";

/** What a finished command printed. */
export interface Output {
  stdout: string;
  stderr: string;
}

/**
 * The environment for commands run in projects outside the repository: no
 * `npm_*` variables from the `npm test` that runs us (they would configure
 * the inner npm), no PATH entries into the repository (so only the
 * project's own tools are found), and npm set to use its cache first.
 */
export function outsideEnv(repoRoot: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.toLowerCase().startsWith("npm_") && key !== "INIT_CWD") {
      env[key] = value;
    }
  }
  env.PATH = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => dir !== "" && !dir.startsWith(repoRoot))
    .join(delimiter);
  env.npm_config_prefer_offline = "true";
  // An npm cache of its own, e.g. an empty folder to run as on a fresh machine.
  if (process.env.PACKAGING_NPM_CACHE !== undefined) {
    env.npm_config_cache = process.env.PACKAGING_NPM_CACHE;
  }
  env.npm_config_audit = "false";
  env.npm_config_fund = "false";
  env.npm_config_update_notifier = "false";
  return env;
}

/**
 * How long one command may take. Generous: the first run on a machine
 * downloads every package from the npm registry, on a machine that may be
 * busy with other tests.
 */
export const COMMAND_TIMEOUT_MS = 420_000;

/** Runs a program; rejects with everything it printed (and a hint for npm) if it fails or hangs. */
export function run(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Output> {
  const { timeoutMs = COMMAND_TIMEOUT_MS, ...execOptions } = options;
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...execOptions, maxBuffer: 64 << 20, timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) {
        const command = [file, ...args].join(" ");
        const what = error.killed ? `did not finish within ${timeoutMs / 1000} s` : `failed (${error.message.split("\n")[0]})`;
        const hint = /\bnpm\b/.test(command)
          ? "\nnpm needs the npm registry for packages missing from its cache (all of them on a fresh machine): check that it is reachable."
          : "";
        reject(new Error(`\`${command}\` ${what} in ${options.cwd}${hint}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

/** Runs shell command lines as a user pastes them, one after the other. */
export async function runShell(script: string, options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Output> {
  const outputs: Output[] = [];
  for (const line of script.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"))) {
    outputs.push(await run("/bin/sh", ["-c", line], options));
  }
  return { stdout: outputs.map((o) => o.stdout).join(""), stderr: outputs.map((o) => o.stderr).join("") };
}

/** The packages npm warned about with EBADENGINE, e.g. "@bufbuild/protoc-gen-es@2.17.0". */
export function engineWarnings(npmOutput: string): string[] {
  return [...npmOutput.matchAll(/EBADENGINE\s+package: '([^']+)'/g)].map((m) => m[1] ?? "");
}

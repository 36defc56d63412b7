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
  env.npm_config_audit = "false";
  env.npm_config_fund = "false";
  env.npm_config_update_notifier = "false";
  return env;
}

/** Runs a program; rejects with everything it printed if it fails. */
export function run(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Output> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) {
        const command = [file, ...args].join(" ");
        reject(new Error(`\`${command}\` failed in ${options.cwd}: ${error.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
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

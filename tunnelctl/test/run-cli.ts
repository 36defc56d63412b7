/** Runs the built tunnelctl (bin/tunnelctl.js) in a child process, asynchronously: agents in the test process keep serving. */
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

const BIN = new URL("../bin/tunnelctl.js", import.meta.url).pathname;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a run: none of the caller's colour or tunnelctl settings unless given. */
function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of ["NO_COLOR", "FORCE_COLOR", "TUNNELCTL_SERVER", "TUNNELCTL_TOKEN", "TUNNELCTL_GATEWAY"]) delete base[name];
  return { ...base, ...env };
}

/** Runs tunnelctl to its end. */
export function tunnelctl(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return started(args, env).done;
}

/** Starts tunnelctl; `onLine` sees stdout and `onErrorLine` stderr line by line as they come (for watch). */
export function started(
  args: string[],
  env: Record<string, string> = {},
  onLine: (line: string) => void = () => {},
  onErrorLine: (line: string) => void = () => {},
) {
  const child = spawn(process.execPath, [BIN, ...args], { env: environment(env), stdio: ["ignore", "pipe", "pipe"] });
  const stdout = collectLines(child.stdout, onLine);
  const stderr = collectLines(child.stderr, onErrorLine);
  const done = new Promise<CliRun>((resolve) => child.on("close", (code) => resolve({ code, stdout: stdout.text, stderr: stderr.text })));
  return { child, done };
}

/** All a stream wrote, as text, calling `onLine` with each whole line as it arrives. */
function collectLines(stream: Readable, onLine: (line: string) => void): { text: string } {
  const collected = { text: "" };
  let pending = "";
  stream.setEncoding("utf8").on("data", (chunk: string) => {
    collected.text += chunk;
    pending += chunk;
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
      onLine(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  });
  return collected;
}

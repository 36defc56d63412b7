import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Cleanup } from "./servers.js";

/**
 * Runs the Node script `script` with `args` in a child process (so a test
 * can SIGKILL it; `cleanup` kills it and waits for its exit) and resolves
 * once it printed a line matching `ready`, with that match.
 */
export async function startChildProcess(
  cleanup: Cleanup,
  script: URL,
  args: string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; ready: RegExpExecArray }> {
  const child = spawn(process.execPath, [script.pathname, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanup.add(async () => {
    child.kill("SIGKILL");
    await exited;
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const match = ready.exec(line);
    if (match) {
      lines.close();
      return { child, ready: match };
    }
  }
  throw new Error(`${script.pathname} exited before it printed ${ready}`);
}

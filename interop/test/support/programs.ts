import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The launchers of the compiled interop programs (built by `tsc -b`). */
export const SERVER_BIN = fileURLToPath(new URL("../../bin/tunnel-test-server.js", import.meta.url));
export const CLIENT_BIN = fileURLToPath(new URL("../../bin/tunnel-test-client.js", import.meta.url));
const BUILT = fileURLToPath(new URL("../../dist/programs/tunnel-test-server.js", import.meta.url));

export function assertBuilt(): void {
  if (!existsSync(BUILT)) {
    throw new Error(`interop programs are not built (${BUILT} is missing): run \`npx tsc -b\` first (\`npm test\` does)`);
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One interop program running as a child process, its stdout and stderr
 * captured together (in arrival order) for assertions and failure messages.
 */
export class Program {
  readonly name: string;
  readonly exited: Promise<Exit>;
  private readonly child: ChildProcess;
  private text = "";
  private readonly lineWaiters: Array<{ pattern: RegExp; resolve: (match: RegExpExecArray) => void }> = [];

  constructor(
    bin: string,
    readonly args: readonly string[],
  ) {
    this.name = `${bin.split("/").pop()} ${args.join(" ")}`;
    this.child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const append = (chunk: Buffer) => {
      this.text += chunk.toString("utf8");
      this.checkWaiters();
    };
    this.child.stdout!.on("data", append);
    this.child.stderr!.on("data", append);
    this.exited = new Promise((resolve) => this.child.on("close", (code, signal) => resolve({ code, signal })));
  }

  /** Everything the program printed so far. */
  get output(): string {
    return this.text;
  }

  /** Resolves with the first output line matching `pattern`; rejects if the program exits without one. */
  waitForLine(pattern: RegExp): Promise<RegExpExecArray> {
    const found = new Promise<RegExpExecArray>((resolve) => {
      this.lineWaiters.push({ pattern, resolve });
      this.checkWaiters();
    });
    const exitedFirst = this.exited.then((exit) => {
      // Output can still be in the pipe when 'close' fires: look once more.
      const match = this.findLine(pattern);
      if (match) {
        return match;
      }
      throw new Error(`${this.name} exited (${describeExit(exit)}) without printing ${pattern}; output:\n${this.text}`);
    });
    return Promise.race([found, exitedFirst]);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
    }
  }

  private checkWaiters(): void {
    for (let i = this.lineWaiters.length - 1; i >= 0; i--) {
      const waiter = this.lineWaiters[i];
      const match = this.findLine(waiter.pattern);
      if (match) {
        this.lineWaiters.splice(i, 1);
        waiter.resolve(match);
      }
    }
  }

  private findLine(pattern: RegExp): RegExpExecArray | undefined {
    for (const line of this.text.split("\n")) {
      const match = pattern.exec(line);
      if (match) {
        return match;
      }
    }
    return undefined;
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

/** Kills every program started through it; for afterEach and process exit. */
export class Programs {
  private readonly running = new Set<Program>();

  constructor() {
    // A crashed test run must not leave servers listening behind it.
    process.once("exit", () => this.killAll());
  }

  start(bin: string, args: readonly string[]): Program {
    const program = new Program(bin, args);
    this.running.add(program);
    void program.exited.then(() => this.running.delete(program));
    return program;
  }

  async killAll(): Promise<void> {
    const programs = [...this.running];
    for (const program of programs) {
      program.kill();
    }
    await Promise.all(programs.map((p) => p.exited));
  }
}

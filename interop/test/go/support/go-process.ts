import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { EventLog } from "./event-log.js";
import { type CallResult, type CallSpec, type InteropEvent, newResult } from "./spec.js";

/**
 * One of the Go programs (interop/go), running: its JSON output lines as
 * events, results of the calls it was asked to make, and its standard input
 * for commands. It exits when its standard input closes (`stop`), so it
 * never outlives the test process.
 */
export class GoProcess {
  readonly log = new EventLog();
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<string, (result: CallResult) => void>();
  private stderr = "";
  private readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    binary: string,
    args: readonly string[],
  ) {
    this.child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString("utf8");
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    void this.exited.then((code) => {
      this.log.push({ event: "exit", error: `exit code ${code}` });
      for (const [id, settle] of this.pending) {
        settle(this.failure(id, `${this.name} exited (code ${code}) before answering: ${this.stderr.trim()}`));
      }
      this.pending.clear();
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => this.onLine(line));
  }

  private onLine(line: string): void {
    let event: InteropEvent & Partial<CallResult>;
    try {
      event = JSON.parse(line);
    } catch {
      this.log.push({ event: "garbage", error: line });
      return;
    }
    if (event.event === "result" && event.id !== undefined) {
      this.pending.get(event.id)?.(event as unknown as CallResult);
      this.pending.delete(event.id);
      return;
    }
    this.log.push(event);
  }

  private failure(id: string, message: string): CallResult {
    return { ...newResult(id), code: -1, message, calls: 0, failed: 1 };
  }

  /** Waits for the program's first line of the given kind (its start-up report). */
  async started(event: string): Promise<InteropEvent> {
    const exit = this.log
      .waitFor("exit", (e) => e.event === "exit")
      .then((e) => {
        throw new Error(`${this.name} ended before "${event}" (${e.error}): ${this.stderr.trim()}`);
      });
    return Promise.race([this.log.waitFor(`"${event}" from ${this.name}`, (e) => e.event === event), exit]);
  }

  /** Asks the program to make a call; resolves with its result line. */
  call(spec: CallSpec): Promise<CallResult> {
    return new Promise((resolve) => {
      this.pending.set(spec.id, resolve);
      this.send({ call: spec });
    });
  }

  /** Releases a handler or reader the program parked for call `id`. */
  release(id: string): void {
    this.send({ release: id });
  }

  private send(command: object): void {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
  }

  /** Closes its standard input and waits for the exit (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

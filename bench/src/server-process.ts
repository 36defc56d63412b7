import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TunnelLimits } from "@protoc-gen-tunnel/runtime/protocol";
import type { ChildReply, ChildRequest } from "./server-child.js";

const CHILD = fileURLToPath(new URL("./server-child.js", import.meta.url));

/** The bench server in a child process (two-process mode), driven over IPC. */
export class ServerProcess {
  private readonly waiting: Array<(reply: ChildReply) => void> = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly address: string,
  ) {
    child.on("message", (reply: ChildReply) => this.waiting.shift()?.(reply));
  }

  static async start(limits: Partial<TunnelLimits> | undefined): Promise<ServerProcess> {
    const child = fork(CHILD, [JSON.stringify(limits ?? {})], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const address = await new Promise<string>((resolve, reject) => {
      child.once("message", (reply: ChildReply) =>
        "address" in reply ? resolve(reply.address) : reject(new Error("server child: no address")),
      );
      child.once("exit", (code) => reject(new Error(`server child exited (code ${code}) before listening`)));
      child.once("error", reject);
    });
    child.removeAllListeners("exit");
    child.on("exit", (code, signal) => {
      if (code !== 0 && signal !== "SIGTERM") {
        process.stderr.write(`bench server child exited unexpectedly (code ${code}, signal ${signal})\n`);
      }
    });
    return new ServerProcess(child, address);
  }

  /** CPU time (user + system) the server process has used so far, µs. */
  async cpuMicros(): Promise<number> {
    const reply = await this.ask({ op: "cpu" });
    return "cpuMicros" in reply ? reply.cpuMicros : Number.NaN;
  }

  /** A full garbage collection in the server process. */
  async collect(): Promise<void> {
    await this.ask({ op: "gc" });
  }

  close(): void {
    if (this.child.connected) {
      this.child.disconnect(); // the child closes its server and exits
    }
  }

  private ask(request: ChildRequest): Promise<ChildReply> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send(request);
    });
  }
}

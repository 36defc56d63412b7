/**
 * Directories in processes of their own (cluster/replica-child.mjs), so a
 * test can kill a replica with SIGKILL and watch its leases run out: each
 * registers its keys, flushes, and lives until killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { type ClusterFixture, TEST_LEASE_MS, TEST_REFRESH_MS } from "./cluster.js";

const CHILD = new URL("../cluster/replica-child.mjs", import.meta.url).pathname;

/** Directory processes started by a test, killed by `killAll`. */
export class DirectoryProcesses {
  private readonly children: ChildProcess[] = [];

  /** Starts a replica process holding `keys`; resolves once they are in Redis. */
  async start(c: ClusterFixture, replicaId: string, keys: readonly string[]): Promise<ChildProcess> {
    const child = spawn(process.execPath, [CHILD, c.url, c.namespace, replicaId, String(TEST_LEASE_MS), String(TEST_REFRESH_MS), ...keys], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.children.push(child);
    for await (const line of createInterface({ input: child.stdout! })) {
      if (line === "READY") return child;
    }
    throw new Error("the replica process exited before it was ready");
  }

  /** kill -9, resolved once the process is gone. */
  async kill(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  killAll(): void {
    for (const child of this.children.splice(0)) child.kill("SIGKILL");
  }
}

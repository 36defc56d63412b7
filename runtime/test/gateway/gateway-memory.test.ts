import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { rawGrpcRequest } from "../support/gateway.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const CHILD = fileURLToPath(new URL("./memory-child.mjs", import.meta.url));
const MiB = 1024 * 1024;

/** The control server, gateway and agent in a process of their own (built packages), asked over stdin. */
async function startChild() {
  const child = spawn(process.execPath, ["--expose-gc", CHILD], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanup.add(async () => {
    child.kill("SIGKILL");
    await exited;
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (prefix: string): Promise<string> => {
    const line = await lines.next();
    if (line.done || !line.value.startsWith(prefix)) {
      throw new Error(`the gateway process said ${line.value ?? "nothing"} instead of ${prefix}`);
    }
    return line.value.slice(prefix.length);
  };
  const port = Number(await next("PORT "));
  const ask = async (question: string, prefix: string) => {
    child.stdin.write(`${question}\n`);
    return next(prefix);
  };
  return { port, sent: async () => Number(await ask("sent", "SENT ")), measure: async () => JSON.parse(await ask("measure", "MEMORY ")) };
}

describe("gateway memory: a caller that never reads", () => {
  it("the gateway process holds a bounded amount while the agent would send 256 MiB", async () => {
    const gateway = await startChild();
    const stream = rawGrpcRequest(
      cleanup,
      `127.0.0.1:${gateway.port}`,
      "/grpchantesting.TestService/ServerStream",
      { "tunnel-key": "camera-3" },
      Buffer.alloc(5),
    ); // one empty request
    stream.pause(); // never reads
    // Wait until the agent is held back: what it sent stops growing (probed every 50 ms; the deadline fails the test).
    let last = -1;
    let quietSince = Date.now();
    const start = Date.now();
    for (;;) {
      const sent = await gateway.sent();
      if (sent !== last) {
        last = sent;
        quietSince = Date.now();
      } else if (sent > 0 && Date.now() - quietSince > 500) {
        break;
      }
      if (Date.now() - start > 20_000) {
        throw new Error(`the agent was not held back: ${sent} bytes sent`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const memory = (await gateway.measure()) as { growth: number; rssGrowth: number; sent: number; total: number };
    expect(memory.sent).toBeLessThan(16 * MiB);
    expect(memory.growth).toBeLessThan(16 * MiB);
    expect(memory.rssGrowth).toBeLessThan(64 * MiB);
  });
});

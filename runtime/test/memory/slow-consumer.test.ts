import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../src/index.js";

// A sender pushes 1 GiB at a consumer that keeps stopping to read. Each side
// runs in its own process (with --expose-gc) so its memory is measured alone:
// heap plus array buffers, after a full GC, sampled while the consumer is
// stalled. Bounded memory means growth below twice the configured bound.

const GiB = 1024 ** 3;
const BOUND = 32 * 1024 * 1024;
const script = new URL("./slow-consumer.mjs", import.meta.url).pathname;
const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

interface Report {
  maxGrowth: number;
  [key: string]: unknown;
}

/** Runs one side; resolves with each line it prints as it prints it. */
function run(args: string[]): { lines: AsyncIterator<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--expose-gc", script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator](), exited };
}

async function nextLine(lines: AsyncIterator<string>, what: string): Promise<string> {
  const next = await lines.next();
  if (next.done) throw new Error(`${what} exited without printing`);
  return next.value;
}

async function session(mode: "rev1" | "rev0") {
  const server = run(["server", mode, String(BOUND)]);
  const port = /^PORT (\d+)$/.exec(await nextLine(server.lines, "server"))?.[1];
  expect(port).toBeDefined();
  const client = run(["client", mode, port!, String(GiB)]);
  const clientReport = JSON.parse(await nextLine(client.lines, "client")) as Report;
  const serverReport = JSON.parse(await nextLine(server.lines, "server")) as Report;
  expect(await client.exited).toBe(0);
  return { client: clientReport, server: serverReport };
}

describe("bounded memory with a slow consumer while a sender pushes 1 GiB", () => {
  it("revision 1: the receive window holds the sender back; all 1 GiB arrives", async () => {
    const { client, server } = await session("rev1");
    expect(client).toMatchObject({ ok: true, offered: GiB });
    expect(server.received).toBe(GiB);
    expect(server.maxGrowth).toBeLessThan(2 * BOUND);
    expect(client.maxGrowth).toBeLessThan(2 * BOUND);
  }, 120_000);

  it("revision 0 (no window): the per-stream buffer limit ends the call instead of buffering on", async () => {
    const { client, server } = await session("rev0");
    expect(client).toMatchObject({ ok: false, code: Code.RESOURCE_EXHAUSTED });
    // The call ended before the sender was through. How far the sender got
    // meanwhile depends on how fast the failure reaches it (machine load),
    // not on the code; memory is what must stay bounded, on both sides.
    expect(client.offered as number).toBeLessThan(GiB);
    expect(server.aborted).toBe(true);
    expect(server.maxGrowth).toBeLessThan(2 * BOUND);
    expect(client.maxGrowth).toBeLessThan(2 * BOUND);
  }, 60_000);
});

// The complete replica program of docs/scaling-out.md, run as it is written
// (compiled to JavaScript, against the built packages): two replicas on a
// real Redis, an agent connecting to one, its key located from the other
// through the admin endpoints, readiness, and a graceful stop on SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { readSnippets, snippet } from "../../../test/support/snippets.js";
import { request } from "../support/http-page.js";
import { redisForFile } from "../support/redis-per-file.js";
import { startAgent } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";
import { EventLog } from "../support/events.js";

const repoRoot = new URL("../../../", import.meta.url);
const cleanup = new Cleanup();

const redisUrl = redisForFile(cleanup);

/** The snippet as an ES module next to the workspace's node_modules, so its imports resolve to the built packages. */
function compiledSnippet(): string {
  const source = snippet(readSnippets(new URL("docs/scaling-out.md", repoRoot).pathname), "replica.ts");
  const { outputText, diagnostics } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    reportDiagnostics: true,
  });
  expect(diagnostics ?? []).toEqual([]);
  const dir = new URL("node_modules/.snippets/", repoRoot).pathname;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}replica-${randomUUID()}.mjs`;
  writeFileSync(file, outputText);
  cleanup.add(() => rmSync(file, { force: true }));
  return file;
}

interface Started {
  child: ChildProcess;
  lines: EventLog<string>;
  info: { replica: string; port: number; relayPort: number; opsPort: number };
  exited: Promise<number | null>;
}

async function startReplica(file: string, env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [file], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  cleanup.add(() => void child.kill("SIGKILL"));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const lines = new EventLog<string>();
  createInterface({ input: child.stdout! }).on("line", (line) => lines.push(line));
  const first = await Promise.race([lines.waitFor((line) => line.startsWith("{")), exited.then((code) => `exited ${code}`)]);
  if (!first.startsWith("{")) throw new Error(`the replica did not start: ${first}`);
  return { child, lines, info: JSON.parse(first) as Started["info"], exited };
}

describe("the complete replica of docs/scaling-out.md", () => {
  it("runs as written: two replicas share an agent's key, answer probes and admin requests, and stop on SIGTERM", async () => {
    const file = compiledSnippet();
    const common = {
      REDIS_URL: redisUrl(),
      CLUSTER_NAMESPACE: `snippet-${randomUUID()}`,
      RELAY_SECRET: `relay-secret-${randomUUID()}`,
      ADMIN_TOKEN: `admin-token-${randomUUID()}`,
      AGENT_PORT: "0",
      RELAY_PORT: "0",
      OPS_PORT: "0",
    };
    const a = await startReplica(file, { ...common, REPLICA_ID: "replica-a" });
    const b = await startReplica(file, { ...common, REPLICA_ID: "replica-b" });
    expect(a.info).toMatchObject({ replica: "replica-a" });

    const agent = startAgent(cleanup, `127.0.0.1:${b.info.port}`, { name: "camera", manual: true });
    void agent.rts.serve({ metadata: { "device-id": "camera-3" }, signal: agent.controller.signal });
    await b.lines.waitFor((line) => line === "replica-b: camera-3 connected");

    const auth = { authorization: `Bearer ${common.ADMIN_TOKEN}` };
    const located = await fetch(`http://127.0.0.1:${a.info.opsPort}/locate?key=camera-3`, { headers: auth });
    expect(await located.json()).toEqual({
      key: "camera-3",
      replicas: [{ replicaId: "replica-b", address: `127.0.0.1:${b.info.relayPort}` }],
    });
    expect((await fetch(`http://127.0.0.1:${a.info.opsPort}/locate?key=camera-3`)).status).toBe(401);
    expect((await request(`http://127.0.0.1:${a.info.opsPort}/readyz`)).status).toBe(200);

    b.child.kill("SIGTERM");
    expect(await b.exited).toBe(0);
    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
  }, 60_000);
});

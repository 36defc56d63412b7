// tunnelctl end to end (issue #29): every subcommand, human and --json,
// against three replica processes on a real Redis with agents behind a
// balancer — listing keys cluster-wide in pages, locating, watching tunnels
// open and close, a replica's status, draining one with its token — and
// the exit codes, help and colour rules.
import { TestService } from "@protoc-gen-tunnel/interop";
import { beforeAll, describe, expect, it } from "vitest";
import { serveReflection } from "../../runtime/src/gateway.js";
import { EventLog } from "../../runtime/test/support/events.js";
import { redisForFile } from "../../runtime/test/support/redis-per-file.js";
import { ProcessCluster } from "../../runtime/test/support/replica-processes.js";
import { startAgent } from "../../runtime/test/support/reverse.js";
import { Cleanup } from "../../runtime/test/support/servers.js";
import { started, tunnelctl } from "./run-cli.js";

const cleanup = new Cleanup();
let cluster: ProcessCluster;
const TOKEN = "admin-token-0123456789abcdef";
const KEYS = ["camera-1", "camera-2", "camera-3", "thermostat-1", "thermostat-2"];
let env: Record<string, string>;
/** Keys of agents started by later tests (the call tests' reflecting agents). */
const laterKeys: string[] = [];

const redisUrl = redisForFile(cleanup);

beforeAll(async () => {
  cluster = await ProcessCluster.start(cleanup, redisUrl(), 3, { adminToken: TOKEN });
  for (const key of KEYS) await cluster.connectAgent({ name: `agent-${key}`, key });
  env = { TUNNELCTL_SERVER: cluster.replicas[0].httpUrl, TUNNELCTL_TOKEN: TOKEN };
}, 60_000);

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what is looked for
const ANSI = /\u001b\[\d+m/;
const jsonLines = (text: string) =>
  text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe("tunnelctl keys", () => {
  it("lists every key of the cluster with its replica, as a table", async () => {
    const run = await tunnelctl(["keys"], env);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^KEY\s+REPLICAS$/);
    for (const key of KEYS) {
      const holder = await cluster.holderOf(key);
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${key}\\s+${holder.replicaId}$`)));
    }
    expect(lines.at(-1)).toBe("5 keys");
    expect(run.stdout).not.toMatch(ANSI); // not a terminal: no colour
  });

  it("pages with --limit and --cursor in JSON, and --all streams one key per line", async () => {
    const pages: Array<{ keys: Array<{ key: string; replicas: string[] }>; cursor: string | null }> = [];
    let cursor: string | null = null;
    do {
      const run = await tunnelctl(["keys", "--json", "--limit", "2", ...(cursor === null ? [] : ["--cursor", cursor])], env);
      expect(run.code).toBe(0);
      const page = JSON.parse(run.stdout) as (typeof pages)[number];
      expect(page.keys.length).toBeLessThanOrEqual(2);
      pages.push(page);
      cursor = page.cursor;
    } while (cursor !== null);
    expect(pages.flatMap((p) => p.keys.map((k) => k.key)).sort()).toEqual(KEYS);

    const all = await tunnelctl(["keys", "--all", "--json", "--limit", "2"], env);
    expect(all.code).toBe(0);
    const entries = jsonLines(all.stdout);
    expect(entries.map((e) => e.key).sort()).toEqual(KEYS);
    expect(entries.every((e) => Array.isArray(e.replicas) && (e.replicas as string[]).length === 1)).toBe(true);

    const cameras = await tunnelctl(["keys", "--prefix", "camera-", "--all"], env);
    expect(
      cameras.stdout
        .trim()
        .split("\n")
        .slice(1, -1)
        .map((line) => line.split(/\s+/)[0]),
    ).toEqual(expect.arrayContaining(["camera-1", "camera-2", "camera-3"]));
    expect(cameras.stdout.trim().split("\n").at(-1)).toBe("3 keys");
  });

  it("uses colour only when asked (FORCE_COLOR) and never with NO_COLOR or --no-color", async () => {
    expect((await tunnelctl(["keys"], { ...env, FORCE_COLOR: "1" })).stdout).toMatch(ANSI);
    expect((await tunnelctl(["keys"], { ...env, FORCE_COLOR: "1", NO_COLOR: "1" })).stdout).not.toMatch(ANSI);
    expect((await tunnelctl(["keys", "--no-color"], { ...env, FORCE_COLOR: "1" })).stdout).not.toMatch(ANSI);
  });
});

describe("tunnelctl locate and status", () => {
  it("locate names the replica holding a key, and exits 3 for a key nobody holds", async () => {
    const holder = await cluster.holderOf("camera-2");
    const human = await tunnelctl(["locate", "camera-2"], env);
    expect(human).toMatchObject({ code: 0, stdout: `camera-2 is held by ${holder.replicaId} (${holder.relayAddress})\n` });
    const json = await tunnelctl(["locate", "camera-2", "--json"], env);
    expect(JSON.parse(json.stdout)).toEqual({ key: "camera-2", replicas: [{ replicaId: holder.replicaId, address: holder.relayAddress }] });
    const missing = await tunnelctl(["locate", "nobody"], env);
    expect(missing).toMatchObject({ code: 3, stdout: "", stderr: "nobody: no replica holds it\n" });
    expect(JSON.parse((await tunnelctl(["locate", "nobody", "--json"], env)).stdout)).toEqual({ key: "nobody", replicas: [] });
  });

  it("status shows a replica's id, state and tunnels", async () => {
    const replica = cluster.replicas[1];
    const held = KEYS.filter((key) => replica.holds(key)).length;
    const human = await tunnelctl(["status", "--server", replica.httpUrl], { TUNNELCTL_TOKEN: TOKEN });
    expect(human.code).toBe(0);
    expect(human.stdout).toBe(
      [`replica   ${replica.replicaId}`, "state     serving", `tunnels   ${held} reverse (0 draining)`, `keys      ${held}`, ""].join("\n"),
    );
    const json = await tunnelctl(["status", "--json", "-s", replica.httpUrl], { TUNNELCTL_TOKEN: TOKEN });
    expect(JSON.parse(json.stdout)).toEqual({
      replicaId: replica.replicaId,
      shuttingDown: false,
      reverseTunnels: held,
      draining: 0,
      keys: held,
    });
  });
});

describe("tunnelctl watch", () => {
  it.each([false, true])("prints tunnels opening and closing on every replica watched, live (--json: %s)", async (json) => {
    const servers = cluster.replicas.flatMap((r) => ["--server", r.httpUrl]);
    const notices = new EventLog<string>();
    const args = ["watch", "--count", "2", "--prefix", "door-", ...servers, ...(json ? ["--json"] : [])];
    const watching = started(args, { TUNNELCTL_TOKEN: TOKEN }, undefined, (line) => notices.push(line));
    // Live once every replica's stream answered.
    await notices.waitForCount(cluster.replicas.length, (line) => line.startsWith("watching "));
    const key = `door-${json ? "json" : "human"}`;
    const agent = startAgent(cleanup, cluster.balancer.address, { name: key, key });
    const holder = await cluster.holderOf(key);
    agent.controller.abort();
    const run = await watching.done;
    expect(run.code).toBe(0);
    if (json) {
      const events = jsonLines(run.stdout);
      expect(events.map((e) => [e.event, e.key, e.replicaId])).toEqual([
        ["open", key, holder.replicaId],
        ["close", key, holder.replicaId],
      ]);
      expect(events[1].reason).toMatch(/^(peer-closed|failed)$/);
    } else {
      const printed = run.stdout.trim().split("\n");
      expect(printed).toHaveLength(2);
      expect(printed[0]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  open   ${key}  ${holder.replicaId}  \\S+$`));
      expect(printed[1]).toMatch(
        new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  close  ${key}  ${holder.replicaId}  \\S+ \\((peer-closed|failed)\\)$`),
      );
      expect(run.stderr).toContain(`watching ${cluster.replicas[0].httpUrl} (Ctrl-C to stop)`);
    }
  });
});

describe("tunnelctl call", () => {
  /** An agent that describes its services by reflection, on whatever replica the balancer gives it. */
  async function reflectingAgent(key: string) {
    const agent = startAgent(cleanup, cluster.balancer.address, { name: `agent-${key}`, key, manual: true });
    serveReflection(agent.rts, [TestService]);
    void agent.rts.serve({ ...agent.serveOptions, reconnect: { initialBackoffMs: 50, maxBackoffMs: 500 } });
    laterKeys.push(key);
    return cluster.holderOf(key);
  }

  it("calls a method on an agent through a gateway, in JSON, relayed from another replica", async () => {
    const holder = await reflectingAgent("camera-9");
    const entry = cluster.replicas.find((r) => r !== holder)!;
    const gateway = { TUNNELCTL_GATEWAY: `http://127.0.0.1:${entry.gatewayPort}` };
    const request = JSON.stringify({ payload: Buffer.from("hello").toString("base64") });
    const human = await tunnelctl(["call", "camera-9", "grpchantesting.TestService/Unary", "-d", request], gateway);
    expect(human.code).toBe(0);
    const answer = JSON.parse(human.stdout) as { payload: string };
    expect(Buffer.from(answer.payload, "base64").toString()).toBe("hello");
    expect(human.stderr).toBe(`served by replica ${holder.replicaId}\n`);

    const json = await tunnelctl(["call", "camera-9", "grpchantesting.TestService.Unary", "-d", request, "--json"], gateway);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      key: "camera-9",
      method: "/grpchantesting.TestService/Unary",
      servedBy: holder.replicaId,
      response: { payload: Buffer.from("hello").toString("base64") },
    });
  });

  it("exits 64 + the gRPC code when the call fails, and says why", async () => {
    await reflectingAgent("camera-10");
    const gateway = { TUNNELCTL_GATEWAY: `http://127.0.0.1:${cluster.replicas[0].gatewayPort}` };
    const notFound = await tunnelctl(["call", "camera-10", "grpchantesting.TestService/Unary", "-d", '{"code": 5}'], gateway);
    expect(notFound).toMatchObject({ code: 64 + 5, stdout: "" });
    expect(notFound.stderr).toMatch(/^not_found: /);
    const json = await tunnelctl(["call", "camera-10", "grpchantesting.TestService/Unary", "-d", '{"code": 5}', "--json"], gateway);
    expect(JSON.parse(json.stdout)).toMatchObject({ key: "camera-10", error: { code: "not_found" } });
    const nobody = await tunnelctl(["call", "nobody", "grpchantesting.TestService/Unary"], gateway);
    expect(nobody).toMatchObject({ code: 64 + 14, stderr: expect.stringMatching(/^unavailable: /) });
    expect(await tunnelctl(["call", "camera-10", "not a method"], gateway)).toMatchObject({ code: 2 });
    expect(await tunnelctl(["call", "camera-10", "grpchantesting.TestService/Unary", "-d", "{nope"], gateway)).toMatchObject({ code: 2 });
    expect(await tunnelctl(["call", "camera-10", "grpchantesting.TestService/Unary"])).toMatchObject({ code: 2 });
    expect(await tunnelctl(["call", "camera-10", "a.B/C", "-g", "http://127.0.0.1:9"])).toMatchObject({ code: 5 });
  });
});

describe("tunnelctl drain", () => {
  it("needs the token: none is a usage error (2), a wrong one unauthorized (4)", async () => {
    const target = cluster.replicas[2].httpUrl;
    expect(await tunnelctl(["drain", "-s", target])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("needs the replica's token"),
    });
    expect(await tunnelctl(["drain", "-s", target, "-t", "wrong-token-0123456789"])).toMatchObject({ code: 4 });
    expect(await tunnelctl(["status", "-s", target])).toMatchObject({ code: 4, stderr: expect.stringContaining("answered 401") });
  });

  it("drains a replica: it stops, its agents move, every key is still listed", async () => {
    const victim = cluster.replicas[2];
    const everyKey = [...KEYS, ...laterKeys].sort();
    const moved = everyKey.filter((key) => victim.holds(key));
    const run = await tunnelctl(["drain", "-s", victim.httpUrl, "--json"], { TUNNELCTL_TOKEN: TOKEN });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ draining: true, replicaId: victim.replicaId, alreadyShuttingDown: false });
    expect(await victim.exited).toBe(0);
    cluster.remove(victim);
    for (const key of moved) await cluster.holderOf(key);
    const listed = await tunnelctl(["keys", "--all", "--json"], env);
    expect(
      jsonLines(listed.stdout)
        .map((e) => e.key)
        .sort(),
    ).toEqual(everyKey);
    expect(jsonLines(listed.stdout).every((e) => !(e.replicas as string[]).includes(victim.replicaId))).toBe(true);

    const human = await tunnelctl(["drain", "-s", cluster.replicas[1].httpUrl], { TUNNELCTL_TOKEN: TOKEN });
    expect(human).toMatchObject({ code: 0, stdout: `replica ${cluster.replicas[1].replicaId} is draining\n` });
    expect(await cluster.replicas[1].exited).toBe(0);
  });
});

describe("tunnelctl usage", () => {
  it("--help everywhere; usage errors exit 2; an unreachable server exits 5", async () => {
    const main = await tunnelctl(["--help"]);
    expect(main.code).toBe(0);
    expect(main.stdout).toContain("Usage: tunnelctl <command> [options]");
    for (const command of ["keys", "locate", "watch", "status", "drain", "call"]) {
      const help = await tunnelctl([command, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: tunnelctl ${command}`);
      expect((await tunnelctl(["help", command])).stdout).toBe(help.stdout);
    }
    expect(await tunnelctl([])).toMatchObject({ code: 2, stdout: "" });
    expect(await tunnelctl(["frobnicate"])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command "frobnicate"') });
    expect(await tunnelctl(["locate"], env)).toMatchObject({ code: 2, stderr: expect.stringContaining("locate takes KEY") });
    expect(await tunnelctl(["keys", "--limit", "0"], env)).toMatchObject({ code: 2 });
    expect(await tunnelctl(["keys", "--bogus"], env)).toMatchObject({ code: 2, stderr: expect.stringContaining("--bogus") });
    expect(await tunnelctl(["keys"])).toMatchObject({ code: 2, stderr: expect.stringContaining("no server") });
    const unreachable = await tunnelctl(["keys", "-s", "http://127.0.0.1:9"]);
    expect(unreachable).toMatchObject({ code: 5, stderr: expect.stringContaining("cannot reach http://127.0.0.1:9") });
  });
});

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { TunnelServiceHandler, tunnelServerOptions } from "@protoc-gen-tunnel/runtime";
import { ensureGoInteropPrograms, type GoInteropPrograms } from "../../../scripts/go-tools.mjs";
import { ownCpuMicros, type TunnelVariantId } from "../fixtures.js";
import { figure } from "../results.js";
import { runRounds } from "../rounds.js";
import type { Workload } from "./workload.js";

// Anchor rows: the Go reference (github.com/jhump/grpctunnel v0.3.0, the
// programs of interop/go) measured in the same run. The Go client drives
// the Go tunnel server and the TypeScript tunnel server (this process, the
// interop TestService, which behaves as the Go one does) in turn, each
// round; the variants are the tunnel revision the Go client asks for.

const SERVERS = ["go", "ts"] as const;
type Server = (typeof SERVERS)[number];

/** What the Go client's load mode reports (interop/go/internal/load). */
interface GoLoad {
  calls: number;
  bytes: number;
  seconds: number;
  callsPerSec: number;
  mibPerSec: number;
  failed: number;
  firstError?: string;
}

interface Sample {
  load: GoLoad;
  /** CPU the tunnel server spent, µs. */
  serverCpuUs: number;
}

interface AnchorSpec {
  id: string;
  title: string;
  method: "unary" | "serverStream" | "clientStream";
  concurrency: number;
  size: number;
  /** Per-call figure (unary) or per-MiB figure (streams). */
  per: "call" | "MiB";
}

const ANCHORS: AnchorSpec[] = [
  { id: "go-unary-c32", title: "Go client, unary, 100 B, 32 callers", method: "unary", concurrency: 32, size: 100, per: "call" },
  {
    id: "go-server-stream-64k",
    title: "Go client, server stream of 64 KiB messages",
    method: "serverStream",
    concurrency: 1,
    size: 64 * 1024,
    per: "MiB",
  },
  {
    id: "go-client-stream-64k",
    title: "Go client, client stream of 64 KiB messages",
    method: "clientStream",
    concurrency: 1,
    size: 64 * 1024,
    per: "MiB",
  },
];

/** User + system CPU of another process, µs (clock ticks of 10 ms: fine over a sample of a second). */
function processCpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The Go tunnel server, listening on a free loopback port; ends when its standard input closes. */
async function startGoServer(programs: GoInteropPrograms): Promise<{ address: string; child: ChildProcess }> {
  const child = spawn(programs.server, [], { stdio: ["pipe", "pipe", "inherit"] });
  const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  return { address: (JSON.parse(line) as { address: string }).address, child };
}

async function startTsServer(): Promise<{ address: string; server: grpc.Server }> {
  const handler = new TunnelServiceHandler({});
  handler.registerService(TestService, testServiceImpl);
  const server = new grpc.Server(tunnelServerOptions());
  server.addService(...handler.service());
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, server };
}

/** One sample: the Go client's load mode for `ms` against `address`. */
function goLoad(programs: GoInteropPrograms, spec: AnchorSpec, address: string, variant: TunnelVariantId, ms: number): Promise<GoLoad> {
  const args = ["-addr", address, "-method", spec.method, "-concurrency", String(spec.concurrency), "-size", String(spec.size)];
  args.push("-duration", `${ms}ms`, ...(variant === "rev0" ? ["-no-flow-control"] : []));
  return new Promise((resolve, reject) =>
    execFile(programs.client, args, (error, stdout, stderr) => {
      if (error) return reject(new Error(`tunnel-client ${args.join(" ")}: ${stderr.trim() || error.message}`));
      const load = JSON.parse(stdout.trim().split("\n").pop()!) as GoLoad;
      if (load.failed > 0) return reject(new Error(`tunnel-client ${args.join(" ")}: ${load.firstError}`));
      resolve(load);
    }),
  );
}

function anchor(spec: AnchorSpec): Workload {
  return {
    id: spec.id,
    title: `${spec.title}: Go tunnel server vs TypeScript tunnel server`,
    async run(ctx) {
      const variants = ctx.variants.filter((v): v is TunnelVariantId => v !== "direct");
      const programs = await ensureGoInteropPrograms();
      const go = await startGoServer(programs);
      const ts = await startTsServer();
      const turns = new Map<TunnelVariantId, number>();
      try {
        const samples = await runRounds(ctx, variants, async (variant) => {
          const turn = turns.get(variant) ?? 0;
          turns.set(variant, turn + 1);
          const result: Partial<Record<Server, Sample>> = {};
          for (let i = 0; i < SERVERS.length; i++) {
            const server = SERVERS[(turn + i) % SERVERS.length]!;
            const cpu = server === "go" ? () => processCpuMicros(go.child.pid!) : ownCpuMicros;
            const before = cpu();
            const load = await goLoad(programs, spec, server === "go" ? go.address : ts.address, variant, ctx.config.sampleMs);
            result[server] = { load, serverCpuUs: cpu() - before };
          }
          return result as Record<Server, Sample>;
        });
        const rate = (s: Sample) => (spec.per === "call" ? s.load.callsPerSec : s.load.mibPerSec);
        const cost = (s: Sample) => (spec.per === "call" ? s.serverCpuUs / s.load.calls : s.serverCpuUs / 1000 / (s.load.bytes / 2 ** 20));
        const [rateLabel, rateUnit] = spec.per === "call" ? ["calls/s", "calls/s"] : ["MiB/s", "MiB/s"];
        const [costLabel, costUnit] = spec.per === "call" ? ["server CPU per call", "µs"] : ["server CPU per MiB", "ms"];
        type Pair = Record<Server, Sample>;
        return {
          id: this.id,
          title: this.title,
          params: { method: spec.method, callers: spec.concurrency, payloadBytes: spec.size, client: "Go" },
          figures: [
            figure({ id: "rate-go", label: `${rateLabel}, Go server`, unit: rateUnit, better: "higher" }, samples, (s: Pair) => rate(s.go)),
            figure({ id: "rate-ts", label: `${rateLabel}, TypeScript server`, unit: rateUnit, better: "higher" }, samples, (s: Pair) =>
              rate(s.ts),
            ),
            figure(
              { id: "rate-ratio", label: `${rateLabel}, TypeScript ÷ Go`, unit: "×", better: "higher" },
              samples,
              (s: Pair) => rate(s.ts) / rate(s.go),
            ),
            figure({ id: "cpu-go", label: `${costLabel}, Go server`, unit: costUnit, better: "lower" }, samples, (s: Pair) => cost(s.go)),
            figure({ id: "cpu-ts", label: `${costLabel}, TypeScript server`, unit: costUnit, better: "lower" }, samples, (s: Pair) =>
              cost(s.ts),
            ),
          ],
        };
      } finally {
        go.child.stdin?.end();
        ts.server.forceShutdown();
      }
    },
  };
}

/** The Go anchor workloads: unary at 32 callers, 64 KiB server and client streams. */
export const goAnchors: Workload[] = ANCHORS.map(anchor);

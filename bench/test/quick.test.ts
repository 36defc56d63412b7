import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// Runs `npm run bench -- --quick` once (the built program, like CI would)
// into a temporary directory and checks that the results are well formed.
// Never a performance number: benchmarks do not decide whether tests pass.
const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

const WORKLOADS = [
  "unary-latency",
  "unary-c32",
  "unary-c256",
  "server-stream-1k",
  "server-stream-64k",
  "server-stream-1m",
  "client-stream-1k",
  "client-stream-64k",
  "client-stream-1m",
  "bidi-pingpong",
  "many-streams",
  "fairness",
  "reverse-unary",
  "relay-unary",
  "gateway-unary",
  "instrumentation",
  // The server in a process of its own:
  "unary-latency-2p",
  "unary-c32-2p",
  "server-stream-64k-2p",
  "server-stream-1m-2p",
  "client-stream-64k-2p",
  "client-stream-1m-2p",
  "bidi-pingpong-2p",
  "fairness-2p",
];

/** Workloads with no direct grpc-js counterpart: tunnel variants only, and no ratio to direct. */
const TUNNEL_ONLY = ["relay-unary"];

/** Workloads whose tunnel side is one path (the gateway, agents on revision 1): rev1 and direct only. */
const REV1_ONLY = ["gateway-unary"];

/** Bulk-streaming workloads: also measured against direct grpc-js given the runtime's serializer. */
const WITH_CONTROL = ["server-stream-64k", "server-stream-1m", "client-stream-64k", "client-stream-1m"].flatMap((id) => [id, `${id}-2p`]);
const CONTROL_FIGURES = ["throughput-control", "cpu-control"];

/** Figures that are differences of two samples (what tracing adds): finite, but short samples may make them 0 or less. */
const DIFFERENCES = ["tracing-cpu-added"];

interface Summary {
  median: number;
  min: number;
  max: number;
  spread: number;
  samples: number[];
}

interface Results {
  mode: string;
  machine: { node: string; cpus: number; loadAverageStart: number };
  config: { rounds: number };
  workloads: Array<{
    id: string;
    figures: Array<{ id: string; variants: Record<string, Summary>; ratios: Record<string, Summary> }>;
    curve?: { streams: number[] };
  }>;
  targets: Array<{ id: string; value: number; met: boolean; processes: number }>;
}

function run(outDir: string): Promise<{ stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, "--quick", "--out", outDir], { timeout: 110_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`bench --quick failed: ${error.message}\n${stderr}`)) : resolve({ stderr }),
    );
  });
}

function expectFinite(summary: Summary | undefined, what: string): void {
  expect(summary, what).toBeDefined();
  for (const value of [summary!.median, summary!.min, summary!.max, ...summary!.samples]) {
    expect(Number.isFinite(value), `${what}: ${value}`).toBe(true);
  }
}

function expectPositive(summary: Summary | undefined, what: string): void {
  expect(summary, what).toBeDefined();
  for (const value of [summary!.median, summary!.min, summary!.max, ...summary!.samples]) {
    expect(Number.isFinite(value) && value > 0, `${what}: ${value}`).toBe(true);
  }
}

describe("npm run bench -- --quick", () => {
  let outDir: string | undefined;
  afterAll(async () => {
    if (outDir !== undefined) {
      await rm(outDir, { recursive: true, force: true });
    }
  });

  it("writes well-formed results for every workload and variant", { timeout: 120_000 }, async () => {
    if (!existsSync(MAIN)) {
      throw new Error(`the bench is not built (${MAIN} is missing): run \`npx tsc -b\` first (\`npm test\` does)`);
    }
    outDir = await mkdtemp(join(tmpdir(), "bench-quick-"));
    const { stderr } = await run(outDir);
    expect(stderr).toMatch(/\[24\/24\] fairness-2p/); // progress was shown

    const results = JSON.parse(await readFile(join(outDir, "latest.json"), "utf8")) as Results;
    expect(results.mode).toBe("quick");
    expect(results.machine.cpus).toBeGreaterThan(0);
    expect(results.workloads.map((w) => w.id)).toEqual(WORKLOADS);
    for (const workload of results.workloads) {
      expect(workload.figures.length).toBeGreaterThan(0);
      const tunnelOnly = TUNNEL_ONLY.includes(workload.id);
      for (const figure of workload.figures) {
        const check = DIFFERENCES.includes(figure.id) ? expectFinite : expectPositive;
        const rev1Only = REV1_ONLY.includes(workload.id);
        for (const variant of tunnelOnly ? ["rev1", "rev0"] : rev1Only ? ["rev1", "direct"] : ["rev1", "rev0", "direct"]) {
          check(figure.variants[variant], `${workload.id} ${figure.id} ${variant}`);
          expect(figure.variants[variant]!.samples.length).toBe(workload.id === "many-streams" ? 3 : results.config.rounds);
        }
        if (tunnelOnly) {
          expect(figure.variants.direct, `${workload.id} has no direct variant`).toBeUndefined();
          continue;
        }
        for (const variant of rev1Only ? ["rev1"] : ["rev1", "rev0"]) {
          check(figure.ratios[variant], `${workload.id} ${figure.id} ${variant} ÷ direct`);
        }
      }
    }
    for (const workload of results.workloads) {
      const ids = workload.figures.map((f) => f.id);
      if (!WITH_CONTROL.includes(workload.id)) {
        expect(
          ids.filter((id) => id.endsWith("-control")),
          `${workload.id} has no control`,
        ).toEqual([]);
        continue;
      }
      expect(ids, workload.id).toEqual(["throughput", "cpu", ...CONTROL_FIGURES]);
      for (const id of CONTROL_FIGURES) {
        // The control rows hold the control in the direct column (checked positive above) and the same tunnel samples.
        const control = workload.figures.find((f) => f.id === id)!;
        const compared = workload.figures.find((f) => f.id === id.replace("-control", ""))!;
        for (const variant of ["rev1", "rev0"]) {
          expect(control.variants[variant]!.samples, `${workload.id} ${id} ${variant}`).toEqual(compared.variants[variant]!.samples);
        }
        expect(control.variants.direct!.samples, `${workload.id} ${id}: its own samples`).not.toEqual(compared.variants.direct!.samples);
      }
    }
    expect(results.workloads.find((w) => w.id === "many-streams")?.curve?.streams.length).toBeGreaterThan(1);
    // Per revision, one process: bulk (4 workloads × direct and control), unary, reverse, relay, three
    // instrumentation, fairness, two memory = 17; two processes: bulk (8), unary calls/s and CPU, fairness = 11;
    // and the gateway's two, for revision 1 only.
    expect(results.targets.length).toBe(2 * 17 + 2 * 11 + 2);
    expect(results.targets.filter((t) => t.id === "unary-c32").map((t) => t.processes)).toEqual([1, 1]);
    expect(results.targets.filter((t) => t.id === "unary-c32-two-processes").map((t) => t.processes)).toEqual([2, 2]);
    for (const processes of [1, 2]) {
      expect(results.targets.some((t) => t.processes === processes && t.id === "client-stream-64k")).toBe(true);
    }
    expect(results.targets.filter((t) => t.id === "relay-unary")).toHaveLength(2);
    for (const target of results.targets) {
      expect(Number.isFinite(target.value), target.id).toBe(true);
    }

    const markdown = await readFile(join(outDir, "latest.md"), "utf8");
    expect(markdown).toContain("| workload | figure | direct grpc-js |");
    for (const title of [
      "Unary, 100 B, 32 concurrent callers",
      "Client-streaming, 64 KiB messages",
      "Fairness",
      "Cluster mode: unary relayed",
      "Client-streaming, 64 KiB messages, two processes",
      "| throughput, direct grpc-js given the runtime's serializer (MiB/s, higher is better) |",
      "| target | tunnel rev 1, one process | tunnel rev 1, two processes | tunnel rev 0, one process | tunnel rev 0, two processes |",
    ]) {
      expect(markdown).toContain(title);
    }
    const svg = await readFile(join(outDir, "latest.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});

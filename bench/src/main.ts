// `npm run bench`: runs every workload for tunnel revision 1, tunnel
// revision 0 and direct grpc-js, and writes latest.{md,json,svg}.
import { mkdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCli, USAGE } from "./cli.js";
import { Progress } from "./progress.js";
import { machineInfo } from "./report/machine.js";
import { renderMarkdown } from "./report/markdown.js";
import { renderSvg } from "./report/svg.js";
import type { BenchResults, WorkloadResult } from "./results.js";
import { evaluateTargets } from "./targets.js";
import { allWorkloads } from "./workloads/index.js";

async function main(argv: string[]): Promise<void> {
  let options: ReturnType<typeof parseCli>;
  try {
    options = parseCli(argv, fileURLToPath(new URL("../results/", import.meta.url)));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const { config, outDir, only } = options;
  const loadAtStart = os.loadavg()[0]!;
  const startedAt = new Date();
  const workloads = allWorkloads(config).filter((w) => only === undefined || only.some((prefix) => w.id.startsWith(prefix)));
  if (workloads.length === 0) {
    throw new Error(`no workload matches --only ${only?.join(",")}`);
  }
  const progress = new Progress(workloads.length, process.stderr, options.quiet);
  const results: WorkloadResult[] = [];
  for (const [index, workload] of workloads.entries()) {
    progress.startWorkload(index, workload.id);
    results.push(await workload.run({ config, progress, variants: options.variants }));
  }
  progress.finish();
  const report: BenchResults = {
    schema: 1,
    mode: config.mode,
    startedAt: startedAt.toISOString(),
    durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
    machine: machineInfo(loadAtStart),
    config,
    workloads: results,
    targets: evaluateTargets(results),
  };
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, "latest.json"), `${JSON.stringify(report, null, 2)}\n`); // first: the raw numbers survive a report bug
  await writeFile(join(outDir, "latest.md"), renderMarkdown(report));
  await writeFile(join(outDir, "latest.svg"), renderSvg(report));
  process.stderr.write(`wrote ${join(outDir, "latest.{md,json,svg}")}\n`);
}

main(process.argv.slice(2)).then(
  // grpc-js keeps timers and sockets around for a moment after close.
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);

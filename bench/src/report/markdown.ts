import { CONTROL_LABEL, TUNNEL_VARIANTS, VARIANT_LABELS } from "../fixtures.js";
import type { BenchResults, TargetResult } from "../results.js";
import { formatNumber, formatRatio, formatSummary } from "./format.js";

const KIB = 1024;
const PROCESS_MODES = [1, 2] as const;
const PROCESS_LABELS = { 1: "one process", 2: "two processes" } as const;

function targetCell(target: TargetResult | undefined): string {
  if (target === undefined) {
    return "–";
  }
  const unit = target.figure.endsWith("heap") ? " KiB" : "×";
  return `${target.met ? "✅ met" : "❌ not met"}: ${formatNumber(target.value)}${unit}`;
}

/** The results as Markdown: targets, the full table, the memory curve, the machine. */
export function renderMarkdown(results: BenchResults): string {
  const { config, machine } = results;
  const lines: string[] = [];
  lines.push("# Tunnel vs direct grpc-js", "");
  lines.push(
    `Mode **${results.mode}**, ${results.startedAt}, took ${Math.round(results.durationSeconds)} s. ` +
      `Each figure is the median of ${config.rounds} rounds (after ${config.warmupRounds} discarded warm-up round` +
      `${config.warmupRounds === 1 ? "" : "s"}; samples of ${config.sampleMs} ms) and ±, the largest deviation of one round from it. ` +
      `The memory workload runs ${config.memoryRounds} rounds of fresh processes. ` +
      "Ratios are tunnel ÷ direct, paired round by round. See [README](../README.md) for how to read this.",
    "",
  );
  lines.push(
    `Machine: Node ${machine.node} (V8 ${machine.v8}), @grpc/grpc-js ${machine.grpcJs}, ${machine.platform} ${machine.release} ${machine.arch}, ` +
      `${machine.cpus} × ${machine.cpuModel}, ${machine.totalMemoryGiB} GiB. ${machine.note}.`,
    "",
  );
  lines.push("![tunnel ÷ direct per workload, and memory per open stream](latest.svg)", "");

  const columns = TUNNEL_VARIANTS.flatMap((variant) => PROCESS_MODES.map((processes) => ({ variant, processes })));
  lines.push(
    "## Targets",
    "",
    "One process: client and server share one Node process (one event loop does both ends' work). " +
      "Two processes: the server runs in a process of its own, as deployed. A dash: not run in that mode.",
    "",
    `| target | ${columns.map((c) => `${VARIANT_LABELS[c.variant]}, ${PROCESS_LABELS[c.processes]}`).join(" | ")} |`,
    `|---|${columns.map(() => "---").join("|")}|`,
  );
  for (const id of [...new Set(results.targets.map((t) => t.id))]) {
    const of = results.targets.filter((t) => t.id === id);
    const cells = columns.map((c) => targetCell(of.find((t) => t.variant === c.variant && t.processes === c.processes)));
    lines.push(`| ${of[0]!.description} | ${cells.join(" | ")} |`);
  }
  lines.push("");

  lines.push(
    "## Results",
    "",
    `Rows "…, ${CONTROL_LABEL}" are informational (no target): their direct column is that control, direct grpc-js ` +
      "serializing as the tunnel's typed calls do, and their ratios are tunnel ÷ control, paired round by round.",
    "",
    "| workload | figure | direct grpc-js | tunnel rev 1 | rev 1 ÷ direct | tunnel rev 0 | rev 0 ÷ direct |",
    "|---|---|---:|---:|---:|---:|---:|",
  );
  for (const workload of results.workloads) {
    for (const [i, fig] of workload.figures.entries()) {
      const name = i === 0 ? workload.title : "";
      const label = `${fig.label} (${fig.unit}, ${fig.better} is better)`;
      lines.push(
        `| ${name} | ${label} | ${formatSummary(fig.variants.direct)} | ${formatSummary(fig.variants.rev1)} | ${formatRatio(fig.ratios.rev1)} | ` +
          `${formatSummary(fig.variants.rev0)} | ${formatRatio(fig.ratios.rev0)} |`,
      );
    }
  }
  lines.push("");

  const curve = results.workloads.find((w) => w.curve !== undefined)?.curve;
  if (curve !== undefined) {
    const variants = ["rev1", "rev0", "direct"] as const;
    lines.push(
      "## Memory against open idle streams",
      "",
      "Growth (MiB) since just before the streams were opened, medians of the rounds: heap of the client end, heap of the server end, RSS of the process holding both.",
      "",
      `| streams | ${variants.map((v) => `${VARIANT_LABELS[v]}: client heap / server heap / RSS`).join(" | ")} |`,
      `|---:|${variants.map(() => "---:").join("|")}|`,
    );
    for (const [i, streams] of curve.streams.entries()) {
      const mib = (bytes: number | undefined) => (bytes === undefined ? "–" : formatNumber(bytes / KIB / KIB));
      const cells = variants.map(
        (v) => `${mib(curve.clientHeapBytes[v]?.[i])} / ${mib(curve.serverHeapBytes[v]?.[i])} / ${mib(curve.rssBytes[v]?.[i])}`,
      );
      lines.push(`| ${streams.toLocaleString("en-US")} | ${cells.join(" | ")} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

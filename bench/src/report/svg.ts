import { VARIANT_LABELS, type VariantId } from "../fixtures.js";
import type { BenchResults, Figure, MemoryCurve, WorkloadResult } from "../results.js";
import type { Summary } from "../stats.js";

// A self-contained SVG (no fonts or scripts to load) that GitHub renders in
// the README: tunnel ÷ direct per workload, and memory against open streams.

const WIDTH = 960;
const LABEL_WIDTH = 300;
const BAR_LEFT = LABEL_WIDTH + 10;
const BAR_WIDTH = WIDTH - BAR_LEFT - 90;
const ROW = 30;
const COLORS: Record<VariantId, string> = { rev1: "#2b6cb0", rev0: "#dd8a1e", direct: "#555555" };

/** The headline figure of each workload, in chart order, and the ratio target if there is one. */
const ROWS: Array<{ workload: string; figure: string; label: string; target?: number }> = [
  { workload: "unary-c32", figure: "rate", label: "unary, 32 callers (calls/s)", target: 1.2 },
  { workload: "unary-c32-2p", figure: "rate", label: "… two processes", target: 1.2 },
  { workload: "unary-c256", figure: "rate", label: "unary, 256 callers (calls/s)" },
  { workload: "reverse-unary", figure: "rate", label: "reverse unary via keyAsChannel (calls/s)" },
  { workload: "server-stream-1k", figure: "throughput", label: "server-streaming 1 KiB (MiB/s)" },
  { workload: "server-stream-64k", figure: "throughput", label: "server-streaming 64 KiB (MiB/s)", target: 0.9 },
  { workload: "server-stream-64k-2p", figure: "throughput", label: "… two processes", target: 0.9 },
  { workload: "server-stream-1m", figure: "throughput", label: "server-streaming 1 MiB (MiB/s)", target: 0.8 },
  { workload: "server-stream-1m-2p", figure: "throughput", label: "… two processes", target: 0.8 },
  { workload: "client-stream-1k", figure: "throughput", label: "client-streaming 1 KiB (MiB/s)" },
  { workload: "client-stream-64k", figure: "throughput", label: "client-streaming 64 KiB (MiB/s)", target: 0.9 },
  { workload: "client-stream-64k-2p", figure: "throughput", label: "… two processes", target: 0.9 },
  { workload: "client-stream-1m", figure: "throughput", label: "client-streaming 1 MiB (MiB/s)", target: 0.8 },
  { workload: "client-stream-1m-2p", figure: "throughput", label: "… two processes", target: 0.8 },
  { workload: "unary-latency", figure: "p50", label: "unary latency, 1 caller (p50)" },
  { workload: "unary-latency-2p", figure: "p50", label: "… two processes" },
  { workload: "unary-latency", figure: "p99", label: "unary latency, 1 caller (p99)" },
  { workload: "bidi-pingpong", figure: "p50", label: "bidi ping-pong round trip (p50)" },
  { workload: "bidi-pingpong-2p", figure: "p50", label: "… two processes" },
  { workload: "fairness", figure: "p99-bulk", label: "unary p99 beside a bulk stream" },
  { workload: "fairness-2p", figure: "p99-bulk", label: "… two processes" },
  { workload: "many-streams", figure: "client-heap", label: "heap per idle stream, client end" },
  { workload: "many-streams", figure: "server-heap", label: "heap per idle stream, server end" },
];

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function text(x: number, y: number, content: string, attrs = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(content)}</text>`;
}

function findFigure(workloads: WorkloadResult[], workload: string, id: string): Figure | undefined {
  return workloads.find((w) => w.id === workload)?.figures.find((f) => f.id === id);
}

/** Two sections of bars (higher is better, lower is better), rev 1 and rev 0 per row. */
function ratioPanel(workloads: WorkloadResult[], top: number): { svg: string[]; height: number } {
  const rows = ROWS.map((row) => ({ ...row, fig: findFigure(workloads, row.workload, row.figure) })).filter((r) => r.fig !== undefined);
  const ratios = rows
    .flatMap((r) => [r.fig!.ratios.rev1?.max, r.fig!.ratios.rev0?.max])
    .filter((v): v is number => v !== undefined && Number.isFinite(v));
  // At most 4×: a bar beyond that is clipped (its label says the value).
  const scaleMax = Math.min(4, Math.max(1.5, Math.ceil(Math.max(0, ...ratios) * 2) / 2));
  const x = (ratio: number) => BAR_LEFT + (Number.isFinite(ratio) ? Math.max(0, Math.min(ratio, scaleMax)) / scaleMax : 0) * BAR_WIDTH;
  const svg: string[] = [];
  let y = top;
  svg.push(text(10, y + 16, "Tunnel ÷ direct grpc-js, per workload (median; whiskers: range over rounds)", 'class="title"'));
  y += 30;
  const sections: Array<{ title: string; better: "higher" | "lower" }> = [
    { title: "Throughput: higher is better (1 = as fast as direct)", better: "higher" },
    { title: "Latency and memory: lower is better (1 = same as direct)", better: "lower" },
  ];
  for (const section of sections) {
    const sectionRows = rows.filter((r) => r.fig!.better === section.better);
    if (sectionRows.length === 0) {
      continue;
    }
    svg.push(text(10, y + 14, section.title, 'class="section"'));
    y += 22;
    const first = y;
    for (const row of sectionRows) {
      svg.push(text(LABEL_WIDTH, y + ROW / 2 + 4, row.label, 'text-anchor="end"'));
      for (const [i, variant] of (["rev1", "rev0"] as const).entries()) {
        const ratio: Summary | undefined = row.fig!.ratios[variant];
        if (ratio === undefined) {
          continue;
        }
        const barY = y + 4 + i * 12;
        svg.push(
          `<rect x="${BAR_LEFT}" y="${barY}" width="${(x(ratio.median) - BAR_LEFT).toFixed(1)}" height="10" fill="${COLORS[variant]}"/>`,
        );
        svg.push(
          `<line x1="${x(ratio.min).toFixed(1)}" x2="${x(ratio.max).toFixed(1)}" y1="${barY + 5}" y2="${barY + 5}" stroke="#111" stroke-width="1"/>`,
        );
        svg.push(text(x(Math.max(ratio.median, ratio.max)) + 6, barY + 9, `${ratio.median.toFixed(2)}×`, 'class="small"'));
      }
      if (row.target !== undefined) {
        svg.push(`<line x1="${x(row.target)}" x2="${x(row.target)}" y1="${y + 1}" y2="${y + ROW - 3}" stroke="#c53030" stroke-width="2"/>`);
      }
      y += ROW;
    }
    svg.push(`<line x1="${x(1)}" x2="${x(1)}" y1="${first - 4}" y2="${y}" stroke="#111" stroke-dasharray="4 3"/>`);
    for (let tick = 0; tick <= scaleMax + 1e-9; tick += 0.5) {
      svg.push(text(x(tick), y + 14, `${tick}×`, 'text-anchor="middle" class="small"'));
    }
    y += 26;
  }
  const legend = [
    `<rect x="${BAR_LEFT}" y="${y}" width="12" height="10" fill="${COLORS.rev1}"/>`,
    text(BAR_LEFT + 16, y + 9, VARIANT_LABELS.rev1, 'class="small"'),
    `<rect x="${BAR_LEFT + 120}" y="${y}" width="12" height="10" fill="${COLORS.rev0}"/>`,
    text(BAR_LEFT + 136, y + 9, VARIANT_LABELS.rev0, 'class="small"'),
    `<line x1="${BAR_LEFT + 250}" x2="${BAR_LEFT + 250}" y1="${y - 1}" y2="${y + 11}" stroke="#c53030" stroke-width="2"/>`,
    text(BAR_LEFT + 256, y + 9, "target", 'class="small"'),
  ];
  svg.push(...legend);
  return { svg, height: y + 20 - top };
}

/** Heap (solid) and RSS (dashed) growth against open streams, per variant. */
function curvePanel(curve: MemoryCurve, top: number): { svg: string[]; height: number } {
  const height = 300;
  const left = 80;
  const right = WIDTH - 200;
  const plotTop = top + 36;
  const plotBottom = top + height - 40;
  const streams = [0, ...curve.streams];
  const sum = (a: number[] | undefined, b: number[] | undefined) => a && b && a.map((value, i) => value + b[i]!);
  const series = (["rev1", "rev0", "direct"] as const).flatMap((variant) => [
    { variant, kind: "heap", values: sum(curve.clientHeapBytes[variant], curve.serverHeapBytes[variant]) },
    { variant, kind: "RSS", values: curve.rssBytes[variant] },
  ]);
  const maxMiB = Math.max(1, ...series.flatMap((s) => (s.values ?? []).map((b) => b / 2 ** 20)).filter(Number.isFinite));
  const step = maxMiB > 200 ? 50 : maxMiB > 80 ? 20 : maxMiB > 40 ? 10 : maxMiB > 16 ? 5 : maxMiB > 4 ? 2 : 0.5;
  const yMax = Math.ceil(maxMiB / step) * step;
  const maxStreams = streams[streams.length - 1]!;
  const px = (n: number) => left + (n / maxStreams) * (right - left);
  const py = (mib: number) => plotBottom - (Math.max(0, mib) / yMax) * (plotBottom - plotTop);
  const svg: string[] = [];
  svg.push(
    text(
      10,
      top + 16,
      "Memory growth against open idle streams (heap: client + server end; RSS: the process holding both)",
      'class="title"',
    ),
  );
  svg.push(`<line x1="${left}" x2="${right}" y1="${plotBottom}" y2="${plotBottom}" stroke="#111"/>`);
  svg.push(`<line x1="${left}" x2="${left}" y1="${plotTop}" y2="${plotBottom}" stroke="#111"/>`);
  for (let mib = 0; mib <= yMax + 1e-9; mib += step) {
    svg.push(`<line x1="${left}" x2="${right}" y1="${py(mib)}" y2="${py(mib)}" stroke="#ddd"/>`);
    svg.push(text(left - 6, py(mib) + 4, `${step < 1 ? mib.toFixed(1) : String(mib)} MiB`, 'text-anchor="end" class="small"'));
  }
  for (const n of streams) {
    svg.push(text(px(n), plotBottom + 16, n.toLocaleString("en-US"), 'text-anchor="middle" class="small"'));
  }
  svg.push(text((left + right) / 2, plotBottom + 34, "open streams", 'text-anchor="middle" class="small"'));
  let legendY = plotTop;
  for (const s of series) {
    if (s.values === undefined) {
      continue;
    }
    const points = streams.map((n, i) => `${px(n).toFixed(1)},${py(i === 0 ? 0 : s.values![i - 1]! / 2 ** 20).toFixed(1)}`);
    const dash = s.kind === "RSS" ? ' stroke-dasharray="6 4"' : "";
    svg.push(`<polyline points="${points.join(" ")}" fill="none" stroke="${COLORS[s.variant]}" stroke-width="2"${dash}/>`);
    svg.push(
      `<line x1="${right + 20}" x2="${right + 50}" y1="${legendY}" y2="${legendY}" stroke="${COLORS[s.variant]}" stroke-width="2"${dash}/>`,
    );
    svg.push(text(right + 56, legendY + 4, `${s.kind} ${VARIANT_LABELS[s.variant]}`, 'class="small"'));
    legendY += 18;
  }
  return { svg, height };
}

export function renderSvg(results: BenchResults): string {
  const ratio = ratioPanel(results.workloads, 10);
  const curve = results.workloads.find((w) => w.curve !== undefined)?.curve;
  const memory = curve === undefined ? { svg: [], height: 0 } : curvePanel(curve, 10 + ratio.height + 10);
  const height = 10 + ratio.height + 10 + memory.height + 24;
  const footer = text(
    10,
    height - 8,
    `${results.mode} run, ${results.startedAt}, Node ${results.machine.node}, ${results.machine.cpus} CPUs, load ${results.machine.loadAverageStart.toFixed(1)}→${results.machine.loadAverageEnd.toFixed(1)}`,
    'class="small"',
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    "<style>.title{font-size:15px;font-weight:bold}.section{font-size:13px;font-weight:bold;fill:#333}.small{font-size:11px;fill:#333}</style>",
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...ratio.svg,
    ...memory.svg,
    footer,
    "</svg>",
    "",
  ].join("\n");
}

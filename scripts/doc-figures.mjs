// The measured figures the docs quote, written from bench/results/latest.json
// (what `npm run bench` writes) into marked blocks:
//
//   <!-- bench: NAME -->
//   ...generated text...
//   <!-- /bench -->
//
// `npm run docs:figures` rewrites every block of README.md and docs/*.md;
// test/doc-figures.test.ts fails when a block no longer matches the results,
// or when a figure (a decimal followed by ×, ms or µs) appears outside one.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BLOCK = /<!-- bench: ([\w-]+) -->\n([\s\S]*?)<!-- \/bench -->/g;

/** The Markdown files whose blocks are kept current: README.md and docs/*.md. */
export function documents(root) {
  const docs = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => join("docs", name));
  return ["README.md", ...docs.sort()];
}

/** The figure `figure` of workload `workload`: its medians by variant and tunnel ÷ direct ratios. */
function figureOf(results, workload, figure) {
  const found = results.workloads.find((w) => w.id === workload)?.figures.find((f) => f.id === figure);
  if (found === undefined) {
    throw new Error(`bench results have no figure ${workload}/${figure}`);
  }
  return found;
}

/** Tunnel ÷ direct for `variant` ("rev1", "rev0"), the median of the paired rounds. */
function ratio(results, workload, figure, variant) {
  const value = figureOf(results, workload, figure).ratios?.[variant]?.median;
  if (value === undefined) {
    throw new Error(`bench results have no ratio ${workload}/${figure}/${variant}`);
  }
  return value;
}

/** The median of `variant`'s samples. */
function median(results, workload, figure, variant) {
  const value = figureOf(results, workload, figure).variants[variant]?.median;
  if (value === undefined) {
    throw new Error(`bench results have no variant ${workload}/${figure}/${variant}`);
  }
  return value;
}

/** The threshold of a target (as "0.9×"), and whether every variant met it. */
function target(results, id) {
  const rows = results.targets.filter((t) => t.id === id);
  if (rows.length === 0) {
    throw new Error(`bench results have no target ${id}`);
  }
  return { threshold: `${rows[0].threshold}×`, met: rows.every((t) => t.met) };
}

const times = (value) => `${value.toFixed(2)}×`;
const ms = (value) => `${value.toFixed(2)} ms`;
const kib = (value) => value.toFixed(1);
/** "a–b×" over the given values. */
function range(values) {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low.toFixed(2) === high.toFixed(2) ? times(low) : `${low.toFixed(2)}–${times(high)}`;
}
const revs = ["rev1", "rev0"];

/** Each block's text, by name. */
const BLOCKS = {
  run: (r) =>
    `From the latest full run (${r.machine.cpus} cores, load average ${r.machine.loadAverageStart.toFixed(1)} to ` +
    `${r.machine.loadAverageEnd.toFixed(1)} during the run, Node.js ${r.machine.node}; ratios move by about ±0.1 between runs, ` +
    "CPU per MiB is the steadier figure):",

  "ratios-table": (r) => {
    const row = (label, rev) => `| ${label} | ${rev("rev1")} | ${rev("rev0")} |`;
    const pair = (a, b, figure) => (v) => `${times(ratio(r, a, figure, v))} / ${times(ratio(r, b, figure, v))}`;
    const heap = (v) =>
      `${kib(median(r, "many-streams", "client-heap", v))} / ${kib(median(r, "many-streams", "server-heap", v))} KiB` +
      (v === "rev1"
        ? ` (direct: ${kib(median(r, "many-streams", "client-heap", "direct"))} / ${kib(median(r, "many-streams", "server-heap", "direct"))})`
        : "");
    const own = (workload, figure) => (v) => times(median(r, workload, figure, v));
    const ownPair = (a, b, figure) => (v) => `${times(median(r, a, figure, v))} / ${times(median(r, b, figure, v))}`;
    return [
      "| workload | tunnel rev 1 ÷ direct grpc-js | rev 0 ÷ direct |",
      "|---|---|---|",
      row("unary, 32 concurrent callers (calls/s; one / two processes)", pair("unary-c32", "unary-c32-2p", "rate")),
      row("unary, 1 caller (latency p50, lower is better; one / two processes)", pair("unary-latency", "unary-latency-2p", "p50")),
      row("reverse tunnels via `keyAsChannel`, 100 agents (calls/s)", (v) => times(ratio(r, "reverse-unary", "rate", v))),
      row("cluster mode: relayed ÷ local reverse-tunnel calls/s (not against direct)", own("relay-unary", "relayed-ratio")),
      row("10,000 idle streams on one tunnel (heap per stream, client / server end)", heap),
      row(
        "unary p99 beside a bulk stream, vs without (one / two processes; not against direct)",
        ownPair("fairness", "fairness-2p", "slowdown"),
      ),
      row("streaming 64 KiB messages, server / client (MiB/s, one process)", pair("server-stream-64k", "client-stream-64k", "throughput")),
      row(
        "streaming 64 KiB messages, server / client (MiB/s, two processes)",
        pair("server-stream-64k-2p", "client-stream-64k-2p", "throughput"),
      ),
      row("streaming 1 MiB messages, server / client (MiB/s, one process)", pair("server-stream-1m", "client-stream-1m", "throughput")),
      row(
        "streaming 1 MiB messages, server / client (MiB/s, two processes)",
        pair("server-stream-1m-2p", "client-stream-1m-2p", "throughput"),
      ),
      row(
        "streaming, CPU per MiB, 64 KiB / 1 MiB messages (one process, server-streaming)",
        pair("server-stream-64k", "server-stream-1m", "cpu"),
      ),
    ].join("\n");
  },

  "serializer-control": (r) => {
    const control = (workloads) => range(workloads.flatMap((w) => revs.map((v) => ratio(r, w, "throughput-control", v))));
    return (
      `against it the tunnel measured ${control(["server-stream-64k", "server-stream-64k-2p"])} for server-streaming and ` +
      `${control(["client-stream-64k", "client-stream-64k-2p"])} for client-streaming at 64 KiB, ` +
      `${control(["server-stream-1m", "server-stream-1m-2p", "client-stream-1m", "client-stream-1m-2p"])} at 1 MiB.`
    );
  },

  instrumentation: (r) => {
    // "rev 1 / rev 0" of a figure: its median (own), or tunnel ÷ direct (vsControl).
    const revisions = (read, figure) => revs.map((v) => times(read(r, "instrumentation", figure, v))).join(" / ");
    const own = (figure) => revisions(median, figure);
    const vsControl = (figure) => revisions(ratio, figure);
    const diagnostics = target(r, "instrumentation-diagnostics");
    const otel = target(r, "instrumentation-otel");
    return (
      `In the latest run (unary calls/s at 32 callers; revision 1 / revision 0), a diagnostics subscriber ran at ${own("diagnostics-ratio")} ` +
      `of nothing subscribed (target ${diagnostics.threshold}, ${diagnostics.met ? "met" : "not met"}); \`tunnelMetrics\` alone at ` +
      `${own("metrics-ratio")}. With OpenTelemetry traces and metrics, the tunnel ran at ${vsControl("rate-otel")} the calls/s ` +
      `of plain grpc-js traced with the same SDK setup by grpc-js interceptors (the control; target ${otel.threshold}, ` +
      `${otel.met ? "met" : "not met"}), on calls that do no work of their own. Against its own run with only ` +
      `OpenTelemetry's context manager registered, tracing left the tunnel ${own("otel-own-ratio")} of its calls/s and the ` +
      `control ${times(median(r, "instrumentation", "otel-own-ratio", "direct"))}.`
    );
  },

  relay: (r) => {
    const owner = (v) => median(r, "relay-unary", "owner-cpu-relayed", v) / median(r, "relay-unary", "owner-cpu-local", v);
    const relayTarget = target(r, "relay-unary");
    return (
      `In the latest run (\`relay-unary\`, revision 1) an empty unary call took ${ms(median(r, "relay-unary", "p50-relayed", "rev1"))} ` +
      `relayed against ${ms(median(r, "relay-unary", "p50-local", "rev1"))} locally (p50, one caller), and the replica holding the ` +
      `agents spent ${times(owner("rev1"))} the CPU on a relayed call that it spends on a local one (every relayed call crosses two ` +
      "tunnels there), so where it is the bottleneck, on a machine of its own, it serves " +
      `${times(median(r, "relay-unary", "owner-cpu-ratio", "rev1"))} as many relayed calls as local ones. On the ${r.machine.cpus}-core ` +
      "bench machine, where both replicas share the cores with everything else running, calls/s relayed ÷ local came out at " +
      `${times(median(r, "relay-unary", "relayed-ratio", "rev1"))} (target ${relayTarget.threshold}, ` +
      `${relayTarget.met ? "met" : "not met"}).`
    );
  },
};

/** The text of block `name` for these results. */
export function renderBlock(name, results) {
  const render = BLOCKS[name];
  if (render === undefined) {
    throw new Error(`no bench block named "${name}" (known: ${Object.keys(BLOCKS).join(", ")})`);
  }
  return `${render(results)}\n`;
}

/** `markdown` with every block rewritten from `results`. */
export function rewriteBlocks(markdown, results) {
  return markdown.replace(BLOCK, (_, name) => `<!-- bench: ${name} -->\n${renderBlock(name, results)}<!-- /bench -->`);
}

/** The blocks of `markdown`: name and current text. */
export function blocksOf(markdown) {
  return [...markdown.matchAll(BLOCK)].map(([, name, text]) => ({ name, text }));
}

/** Measured-looking figures (a decimal followed by ×, ms or µs) outside blocks and code. */
export function strayFigures(markdown) {
  const prose = markdown.replace(BLOCK, "").replace(/^```[\s\S]*?^```/gm, "");
  return [...prose.matchAll(/\d+\.\d+ ?(?:×|ms\b|µs\b)/g)].map(([figure]) => figure);
}

export function readResults(root) {
  return JSON.parse(readFileSync(join(root, "bench/results/latest.json"), "utf8"));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const results = readResults(root);
  for (const file of documents(root)) {
    const before = readFileSync(join(root, file), "utf8");
    const after = rewriteBlocks(before, results);
    if (after !== before) {
      writeFileSync(join(root, file), after);
      console.log(`doc-figures: updated ${file}`);
    }
  }
}

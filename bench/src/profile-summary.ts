// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): where the time went,
// by function and by file, self time only. Usage:
//   node bench/dist/profile-summary.js PROFILE.cpuprofile [--top N]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The repository-relative (or package-relative) part of a script URL. */
function shortFile(url: string): string {
  if (url === "") {
    return "(native)";
  }
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) {
    return url.slice(modules + "node_modules/".length);
  }
  const work = url.match(/\/(runtime|interop|bench)\/(dist|src)\/.*/);
  return work ? work[0].slice(1) : url.replace(/^file:\/\//, "");
}

function table(title: string, rows: Array<[string, number]>, total: number, top: number): string {
  const lines = [title];
  for (const [name, micros] of rows.sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`${((micros / total) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}`);
  }
  return lines.join("\n");
}

export function summarize(profile: Profile, top: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfTime = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) {
    selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of selfTime) {
    const frame = byId.get(id)!.callFrame;
    const file = shortFile(frame.url);
    const name = `${frame.functionName || "(anonymous)"}  ${file}${frame.url ? `:${frame.lineNumber + 1}` : ""}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    byFile.set(file, (byFile.get(file) ?? 0) + micros);
    total += micros;
  }
  return [
    `total ${(total / 1000).toFixed(0)} ms sampled`,
    table("\nself time by function:", [...byFunction], total, top),
    table("\nself time by file:", [...byFile], total, top),
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "40" } } });
  for (const path of positionals) {
    process.stdout.write(`${path}\n${summarize(JSON.parse(readFileSync(path, "utf8")) as Profile, Number(values.top))}\n`);
  }
}

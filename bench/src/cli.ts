import { parseArgs } from "node:util";
import { FULL, QUICK, type BenchConfig } from "./config.js";
import { type Processes, VARIANTS, type VariantId } from "./fixtures.js";

export interface CliOptions {
  config: BenchConfig;
  /** Where latest.{md,json,svg} go. */
  outDir: string;
  /** Run only workloads whose id starts with one of these. */
  only: string[] | undefined;
  variants: readonly VariantId[];
  quiet: boolean;
}

export const USAGE = `usage: npm run bench -- [--quick] [--out DIR] [--only ID,...] [--variants V] [--processes P] [--rounds N] [--sample-ms N] [--quiet]
  --quick       smoke run (under a minute): short samples, fewer streams
  --out DIR     write latest.md, latest.json and latest.svg there (default: bench/results)
  --only IDS    only the workloads whose id starts with one of IDS (e.g. unary,client-stream-64k)
  --variants V  only these of rev1,rev0,direct (e.g. to profile one; ratios need direct, which also brings the bulk workloads' control)
  --processes P 1 (server in the client's process), 2 (in its own process) or 1,2 (default)
  --rounds N    measured rounds per figure (default 5; at least 5 for published numbers)
  --sample-ms N length of one timed sample
  --quiet       no progress on stderr`;

export function parseCli(argv: string[], defaultOutDir: string): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      out: { type: "string" },
      only: { type: "string" },
      variants: { type: "string" },
      processes: { type: "string" },
      rounds: { type: "string" },
      "sample-ms": { type: "string" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const config = { ...(values.quick ? QUICK : FULL) };
  if (values.rounds !== undefined) {
    config.rounds = config.memoryRounds = positiveInt(values.rounds, "--rounds");
  }
  if (values.processes !== undefined) {
    config.processes = parseProcesses(values.processes);
  }
  if (values["sample-ms"] !== undefined) {
    config.sampleMs = positiveInt(values["sample-ms"], "--sample-ms");
  }
  return {
    config,
    outDir: values.out ?? defaultOutDir,
    only: values.only?.split(",").filter((s) => s.length > 0),
    variants: values.variants === undefined ? VARIANTS : parseVariants(values.variants),
    quiet: values.quiet,
  };
}

function parseVariants(text: string): VariantId[] {
  const variants = text.split(",");
  for (const variant of variants) {
    if (!(VARIANTS as readonly string[]).includes(variant)) {
      throw new Error(`--variants: unknown variant ${JSON.stringify(variant)} (known: ${VARIANTS.join(", ")})`);
    }
  }
  return variants as VariantId[];
}

function parseProcesses(text: string): Processes[] {
  const modes = text.split(",").map(Number);
  if (modes.length === 0 || modes.some((mode) => mode !== 1 && mode !== 2)) {
    throw new Error(`--processes: expected 1, 2 or 1,2, got ${JSON.stringify(text)}`);
  }
  return [...new Set(modes as Processes[])];
}

function positiveInt(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

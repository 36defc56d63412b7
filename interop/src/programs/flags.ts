// Command-line flags with the syntax and messages of Go's `flag` package, so
// the TypeScript interop programs take exactly the Go programs' command
// lines: `-name value`, `-name=value`, `--name` alike, booleans without a
// value, parsing stops at the first non-flag argument or at `--`.

export type FlagKind = "bool" | "int" | "string" | "duration";

export interface FlagSpec<K extends FlagKind = FlagKind> {
  kind: K;
  usage: string;
  /** Durations in milliseconds. */
  default: FlagValue<K>;
}

export type FlagValue<K extends FlagKind> = K extends "bool" ? boolean : K extends "string" ? string : number;

export type FlagValues<S extends Record<string, FlagSpec>> = { [N in keyof S]: FlagValue<S[N]["kind"]> };

/** A command line that cannot be run; `exitCode` is what Go's flag package exits with (0 for -help). */
export class FlagError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "FlagError";
  }
}

/** Parses `args` (without node and the script) against `specs`. Throws FlagError. */
export function parseFlags<S extends Record<string, FlagSpec>>(program: string, args: readonly string[], specs: S): FlagValues<S> {
  const values: Record<string, boolean | number | string> = {};
  for (const [name, spec] of Object.entries(specs)) {
    values[name] = spec.default;
  }
  function fail(message: string): never {
    throw new FlagError(`${message}\n${usage(program, specs)}`, 2);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.length < 2 || !arg.startsWith("-")) {
      break; // first non-flag argument: Go stops here
    }
    if (arg === "--") {
      break;
    }
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      fail(`bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    let value = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) {
      if (name === "help" || name === "h") {
        throw new FlagError(usage(program, specs), 0);
      }
      fail(`flag provided but not defined: -${name}`);
    }
    if (spec.kind === "bool") {
      const parsed = value === undefined ? true : parseBool(value);
      if (parsed === undefined) {
        fail(`invalid boolean value ${goQuote(value ?? "")} for -${name}: parse error`);
      }
      values[name] = parsed;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= args.length) {
        fail(`flag needs an argument: -${name}`);
      }
      value = args[++i];
    }
    const parsed = parseValue(spec.kind, value);
    if (parsed === undefined) {
      fail(`invalid value ${goQuote(value)} for flag -${name}: parse error`);
    }
    values[name] = parsed;
  }
  return values as FlagValues<S>;
}

/** The usage text Go prints: "Usage of NAME:" and one entry per flag, sorted by name. */
export function usage(program: string, specs: Record<string, FlagSpec>): string {
  const lines = [`Usage of ${program}:`];
  for (const name of Object.keys(specs).sort()) {
    const spec = specs[name];
    const typeName = spec.kind === "bool" ? "" : ` ${spec.kind}`;
    let entry = `  -${name}${typeName}`;
    entry += entry.length <= 4 ? "\t" : "\n    \t";
    entry += spec.usage.replaceAll("\n", "\n    \t");
    if (!isZero(spec)) {
      entry += ` (default ${spec.kind === "string" ? goQuote(String(spec.default)) : formatDefault(spec)})`;
    }
    lines.push(entry);
  }
  return lines.join("\n");
}

function parseValue(kind: Exclude<FlagKind, "bool">, text: string): number | string | undefined {
  switch (kind) {
    case "string":
      return text;
    case "int":
      return parseGoInt(text);
    case "duration":
      return parseGoDuration(text);
  }
}

function parseBool(text: string): boolean | undefined {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) {
    return true;
  }
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) {
    return false;
  }
  return undefined;
}

/** Go's strconv.ParseInt(text, 0, 64) for the values a port can take: decimal, 0x, 0o, 0b, leading-0 octal. */
export function parseGoInt(text: string): number | undefined {
  const match = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(text);
  if (match === null) {
    return undefined;
  }
  let digits = match[2].replaceAll("_", "");
  let radix = 10;
  if (/^0[xX]/.test(digits)) {
    radix = 16;
    digits = digits.slice(2);
  } else if (/^0[oO]/.test(digits)) {
    radix = 8;
    digits = digits.slice(2);
  } else if (/^0[bB]/.test(digits)) {
    radix = 2;
    digits = digits.slice(2);
  } else if (digits.length > 1 && digits.startsWith("0")) {
    radix = 8;
    digits = digits.slice(1);
  }
  const value = parseInt(digits, radix);
  if (!Number.isSafeInteger(value)) {
    return undefined;
  }
  return match[1] === "-" ? -value : value;
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration ("1s", "1.5s", "1m30s", "300ms", "0"), in milliseconds. */
export function parseGoDuration(text: string): number | undefined {
  const match = /^([+-]?)(.*)$/.exec(text)!;
  const body = match[2];
  if (body === "0") {
    return 0;
  }
  if (body === "") {
    return undefined;
  }
  let total = 0;
  const part = /([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/y;
  let offset = 0;
  while (offset < body.length) {
    part.lastIndex = offset;
    const unit = part.exec(body);
    if (unit === null || unit[1] === "" || unit[1] === ".") {
      return undefined;
    }
    total += Number(unit[1]) * DURATION_UNITS_MS[unit[2]];
    offset = part.lastIndex;
  }
  return match[1] === "-" ? -total : total;
}

/** Go's Duration.String for whole milliseconds: "500ms", "5s", "1.5s", "1m30s", "1h0m0s". */
export function formatGoDuration(ms: number): string {
  if (ms === 0) {
    return "0s";
  }
  if (Math.abs(ms) < 1000) {
    return `${ms}ms`;
  }
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = `${Number((rest / 1000).toFixed(3))}s`;
  if (hours > 0) {
    return `${sign}${hours}h${minutes}m${seconds}`;
  }
  return minutes > 0 ? `${sign}${minutes}m${seconds}` : `${sign}${seconds}`;
}

function isZero(spec: FlagSpec): boolean {
  return spec.default === false || spec.default === 0 || spec.default === "";
}

function formatDefault(spec: FlagSpec): string {
  return spec.kind === "duration" ? formatGoDuration(spec.default as number) : String(spec.default);
}

/** Go's %q for the plain strings that appear here. */
function goQuote(text: string): string {
  return JSON.stringify(text);
}

import { parseArgs, type ParseArgsConfig } from "node:util";
import { CliError, EXIT } from "./errors.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Options every command takes. */
export const GLOBAL_OPTIONS = {
  server: { type: "string", short: "s", multiple: true },
  token: { type: "string", short: "t" },
  json: { type: "boolean" },
  "no-color": { type: "boolean" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

/** Global settings, resolved from options and the environment. */
export interface Globals {
  servers: string[];
  token: string | undefined;
  json: boolean;
  noColor: boolean;
  timeoutMs: number;
}

/** The command named by `args` (the first word that is no option), if any. */
export function commandName(args: readonly string[]): string | undefined {
  const { tokens } = parseArgs({ args: [...args], options: GLOBAL_OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const first = tokens.find((token) => token.kind === "positional");
  return first?.kind === "positional" ? first.value : undefined;
}

/** Parses `args` for a command with `options` besides the global ones; usage errors are CliErrors (exit 2). */
export function parseCommand(args: readonly string[], options: Options): { values: Record<string, unknown>; positionals: string[] } {
  try {
    return parseArgs({ args: [...args], options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.usage);
  }
}

/** Global settings from parsed values and the environment (TUNNELCTL_SERVER, TUNNELCTL_TOKEN). */
export function globals(values: Record<string, unknown>, env: NodeJS.ProcessEnv): Globals {
  const servers = (values.server as string[] | undefined) ?? (env.TUNNELCTL_SERVER ? env.TUNNELCTL_SERVER.split(",") : []);
  const timeout = values.timeout === undefined ? 10_000 : Number(values.timeout);
  if (!(Number.isInteger(timeout) && timeout > 0)) {
    throw new CliError(`--timeout must be a positive whole number of milliseconds, not ${String(values.timeout)}`, EXIT.usage);
  }
  return {
    servers: servers.map((server) => server.trim()).filter((server) => server !== ""),
    token: (values.token as string | undefined) ?? (env.TUNNELCTL_TOKEN || undefined),
    json: values.json === true,
    noColor: values["no-color"] === true,
    timeoutMs: timeout,
  };
}

/** The one server a command talks to. */
export function oneServer(g: Globals): string {
  if (g.servers.length === 0) {
    throw new CliError("no server: give --server http://host:port (a replica's admin endpoints) or set TUNNELCTL_SERVER", EXIT.usage);
  }
  if (g.servers.length > 1) {
    throw new CliError("this command talks to one server; give --server once", EXIT.usage);
  }
  return g.servers[0];
}

/** A whole number option within bounds, or its default. */
export function wholeNumber(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) {
    return fallback;
  }
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= min && n <= max)) {
    throw new CliError(`--${name} must be a whole number from ${min} to ${max}, not ${String(value)}`, EXIT.usage);
  }
  return n;
}

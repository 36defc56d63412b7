import { drain, keys, locate, status, watch, type Context } from "./admin-commands.js";
import { commandName, globals, parseCommand } from "./cli-args.js";
import { call } from "./call-command.js";
import { CliError, EXIT } from "./errors.js";
import { HELP } from "./help.js";
import { type Io, println, Style } from "./output.js";

const COMMAND_OPTIONS = {
  keys: { prefix: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" }, all: { type: "boolean" } },
  locate: {},
  watch: { prefix: { type: "string" }, count: { type: "string" } },
  status: {},
  drain: {},
  call: {
    gateway: { type: "string", short: "g" },
    data: { type: "string", short: "d" },
    header: { type: "string", short: "H", multiple: true },
    wait: { type: "boolean" },
  },
} as const;

/** The positional arguments each command takes, after its name. */
const POSITIONALS: Record<keyof typeof COMMAND_OPTIONS, string[]> = {
  keys: [],
  locate: ["KEY"],
  watch: [],
  status: [],
  drain: [],
  call: ["KEY", "SERVICE/METHOD"],
};

/** Runs tunnelctl with `args`; resolves with the exit code. */
export async function main(args: readonly string[], io: Io, signal?: AbortSignal): Promise<number> {
  const name = commandName(args);
  if (name === undefined || name === "help") {
    const topic = name === "help" ? args[args.indexOf("help") + 1] : undefined;
    const text = topic !== undefined && topic in HELP ? HELP[topic] : HELP.main;
    const asked = name === "help" || args.includes("--help") || args.includes("-h");
    println(asked ? io.stdout : io.stderr, text);
    return asked ? EXIT.ok : EXIT.usage;
  }
  if (!(name in COMMAND_OPTIONS)) {
    println(io.stderr, `tunnelctl: unknown command ${JSON.stringify(name)}; see tunnelctl --help`);
    return EXIT.usage;
  }
  const command = name as keyof typeof COMMAND_OPTIONS;
  const interrupted = new AbortController();
  const onInterrupt = () => interrupted.abort();
  if (signal === undefined) process.once("SIGINT", onInterrupt);
  try {
    const { values, positionals } = parseCommand(args, COMMAND_OPTIONS[command]);
    if (values.help === true) {
      println(io.stdout, HELP[command]);
      return EXIT.ok;
    }
    const rest = positionals.slice(positionals.indexOf(command) + 1);
    const wanted = POSITIONALS[command];
    if (rest.length !== wanted.length) {
      throw new CliError(
        `${command} takes ${wanted.length === 0 ? "no arguments" : wanted.join(" ")}; see tunnelctl ${command} --help`,
        EXIT.usage,
      );
    }
    const g = globals(values, io.env);
    const c: Context = { io, g, style: new Style(io, g.noColor), args, signal: signal ?? interrupted.signal };
    switch (command) {
      case "keys":
        return await keys(c, values);
      case "locate":
        return await locate(c, rest[0]);
      case "watch":
        return await watch(c, values);
      case "status":
        return await status(c);
      case "drain":
        return await drain(c);
      case "call":
        return await call(c, rest[0], rest[1], values);
    }
  } catch (e) {
    if (e instanceof CliError) {
      println(io.stderr, `tunnelctl ${command}: ${e.message}`);
      return e.exitCode;
    }
    println(io.stderr, `tunnelctl ${command}: ${(e as Error)?.stack ?? String(e)}`);
    return EXIT.failed;
  } finally {
    process.off("SIGINT", onInterrupt);
  }
}

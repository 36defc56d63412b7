import { describe, expect, it } from "vitest";
import { FlagError, formatGoDuration, parseFlags, parseGoDuration, parseGoInt, usage } from "../src/programs/flags.js";

// The interop programs must take the Go programs' command lines unchanged.

const SPECS = {
  port: { kind: "int", default: 26354, usage: "the port" },
  "no-flow-control": { kind: "bool", default: false, usage: "disables flow control" },
  "tunnel-type": { kind: "string", default: "both", usage: "type of tunnel" },
  duration: { kind: "duration", default: 5000, usage: "how long" },
} as const;

const parse = (...args: string[]) => parseFlags("prog", args, SPECS);

function flagError(run: () => unknown): FlagError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(FlagError);
    return e as FlagError;
  }
  throw new Error("expected a FlagError");
}

describe("Go-style flags", () => {
  it("defaults", () => {
    expect(parse()).toEqual({ port: 26354, "no-flow-control": false, "tunnel-type": "both", duration: 5000 });
  });

  it("-name value, -name=value, --name value, --name=value", () => {
    expect(parse("-port", "1", "--tunnel-type", "forward").port).toBe(1);
    expect(parse("-port=2").port).toBe(2);
    expect(parse("--port=3", "--tunnel-type=reverse")).toMatchObject({ port: 3, "tunnel-type": "reverse" });
  });

  it("booleans take no separate value; -flag=false works", () => {
    expect(parse("-no-flow-control")["no-flow-control"]).toBe(true);
    expect(parse("--no-flow-control=false")["no-flow-control"]).toBe(false);
    expect(parse("-no-flow-control=T")["no-flow-control"]).toBe(true);
    // As in Go, "false" after a boolean flag is the first non-flag argument: parsing stops there.
    expect(parse("-no-flow-control", "false", "-port", "9")).toMatchObject({ "no-flow-control": true, port: 26354 });
  });

  it("stops at -- and at the first non-flag argument", () => {
    expect(parse("--", "-port", "1").port).toBe(26354);
    expect(parse("extra", "-port", "1").port).toBe(26354);
  });

  it("fails like Go: unknown flag, missing value, bad value (exit code 2)", () => {
    const unknown = flagError(() => parse("-prot", "1"));
    expect(unknown.exitCode).toBe(2);
    expect(unknown.message.split("\n")[0]).toBe("flag provided but not defined: -prot");
    expect(flagError(() => parse("-port")).message).toMatch(/^flag needs an argument: -port\n/);
    expect(flagError(() => parse("-port", "x")).message).toMatch(/^invalid value "x" for flag -port: parse error\n/);
    expect(flagError(() => parse("-no-flow-control=maybe")).message).toMatch(
      /^invalid boolean value "maybe" for -no-flow-control: parse error\n/,
    );
    expect(flagError(() => parse("---port")).message).toMatch(/^bad flag syntax: ---port\n/);
  });

  it("-h and -help print the usage and exit 0", () => {
    for (const help of ["-h", "-help", "--help"]) {
      const error = flagError(() => parse(help));
      expect(error.exitCode).toBe(0);
      expect(error.message).toBe(usage("prog", SPECS));
    }
  });

  it("usage looks like Go's PrintDefaults", () => {
    expect(usage("prog", SPECS)).toBe(
      [
        "Usage of prog:",
        "  -duration duration\n    \thow long (default 5s)",
        "  -no-flow-control\n    \tdisables flow control",
        "  -port int\n    \tthe port (default 26354)",
        '  -tunnel-type string\n    \ttype of tunnel (default "both")',
      ].join("\n"),
    );
  });

  it("integers as strconv.ParseInt(s, 0, 64)", () => {
    expect([parseGoInt("26354"), parseGoInt("0x10"), parseGoInt("010"), parseGoInt("0"), parseGoInt("-5")]).toEqual([26354, 16, 8, 0, -5]);
    expect([parseGoInt(""), parseGoInt("1e3"), parseGoInt("12a")]).toEqual([undefined, undefined, undefined]);
  });

  it("durations as time.ParseDuration, in ms", () => {
    expect(["1s", "500ms", "1.5s", "1m30s", "2h", "0", "250us", "-1s"].map(parseGoDuration)).toEqual([
      1000, 500, 1500, 90_000, 7_200_000, 0, 0.25, -1000,
    ]);
    expect(["", "1", "s", "1x", "1s2"].map(parseGoDuration)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect([5000, 500, 1500, 90_000, 3_600_000].map(formatGoDuration)).toEqual(["5s", "500ms", "1.5s", "1m30s", "1h0m0s"]);
  });
});

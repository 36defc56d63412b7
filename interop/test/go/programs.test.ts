// The Go programs' own command lines: the load mode the bench's Go rows
// use (one JSON line), against a TypeScript tunnel server, and how they
// fail on bad flags and on a server that is not there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureGoInteropPrograms, type GoInteropPrograms } from "../../../scripts/go-tools.mjs";
import { Teardown, startTsHub } from "./support/pairings.js";
import { runProgram } from "./support/run-program.js";

const teardown = new Teardown();
let programs: GoInteropPrograms;
let address: string;

beforeAll(async () => {
  programs = await ensureGoInteropPrograms();
  ({ address } = await startTsHub(1, teardown));
}, 240_000);
afterAll(() => teardown.run());

describe("tunnel-client load mode (the bench's Go rows)", () => {
  it.each([
    ["unary", 100, ["-no-flow-control"]],
    ["unary", 100, []],
    ["serverStream", 64 * 1024, []],
    ["clientStream", 64 * 1024, ["-no-flow-control"]],
  ] as const)("%s with %i-byte messages %j: one JSON line, every call done, none failed", async (method, size, flags) => {
    const { code, stdout, stderr } = await runProgram(programs.client, [
      "-addr",
      address,
      "-method",
      method,
      "-size",
      String(size),
      "-concurrency",
      "4",
      "-messages",
      "8",
      "-duration",
      "150ms",
      ...flags,
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!);
    expect(report).toMatchObject({ event: "load", method, concurrency: 4, messageBytes: size, failed: 0 });
    expect(report.calls).toBeGreaterThan(0);
    const perCall = method === "unary" ? 1 : 8;
    expect(report.bytes).toBe(report.calls * perCall * size);
    expect(report.seconds).toBeGreaterThanOrEqual(0.15);
  });
});

describe("failures", () => {
  it("an unknown method or tunnel type is refused with a message and exit code 1", async () => {
    expect(await runProgram(programs.client, ["-addr", address, "-method", "sideways"])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('-method "sideways"'),
    });
    expect(await runProgram(programs.client, ["-addr", address, "-tunnel", "sideways"])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('-tunnel "sideways"'),
    });
  });

  it("a tunnel server that is not there: the client fails at once with UNAVAILABLE", async () => {
    const { code, stderr } = await runProgram(programs.client, ["-addr", "127.0.0.1:1", "-method", "unary"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/tunnel-client: .*Unavailable/);
  });

  it("the server's flags are Go flags: an unknown one prints the usage and exits 2", async () => {
    const { code, stderr } = await runProgram(programs.server, ["-no-such-flag"]);
    expect(code).toBe(2);
    expect(stderr).toContain("-no-flow-control");
  });
});

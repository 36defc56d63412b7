import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CALL_KINDS, parseCallCounts, type CallCounts } from "../src/call-counts.js";
import { assertBuilt, CLIENT_BIN, describeExit, Programs, SERVER_BIN, type Program } from "./support/programs.js";

// Runs the compiled tunnel-test-server and tunnel-test-client against each
// other, as a person would from the command line, in all four flow-control
// combinations with `-tunnel-type both`.

const programs = new Programs();
afterEach(() => programs.killAll());
beforeAll(() => assertBuilt());

// The load runs 2 s per tunnel here (5 s by default), each kind one call
// after another. A tunnel that stalls shows as a failure: a call still
// running 1 s after the load cancelled fails the program. The count only
// says each kind went round several times: 100-400 on a quiet machine, but
// 8 once in a CI run with the two cores starved for those 2 s.
const DURATION = "2s";
const MIN_CALLS_PER_KIND = 3;

async function startServer(args: string[]): Promise<{ server: Program; port: number }> {
  // Port 0: the OS picks a free port, and the server logs the real one.
  const server = programs.start(SERVER_BIN, ["-port", "0", "-duration", DURATION, ...args]);
  const listening = await server.waitForLine(/Listening on 127\.0\.0\.1:(\d+)$/);
  return { server, port: Number(listening[1]) };
}

/** The counts of the first "<prefix>: completed ..." line. */
function countsAfter(output: string, prefix: RegExp): CallCounts {
  const line = output.split("\n").find((l) => new RegExp(`${prefix.source}: completed `).test(l));
  const counts = line === undefined ? undefined : parseCallCounts(line);
  if (counts === undefined) {
    throw new Error(`no "${prefix.source}: completed ..." line in the output:\n${output}`);
  }
  return counts;
}

function expectManyOfEachKind(counts: CallCounts, output: string): void {
  for (const kind of CALL_KINDS) {
    expect(counts[kind], `${kind} calls completed; output:\n${output}`).toBeGreaterThanOrEqual(MIN_CALLS_PER_KIND);
  }
}

const COMBINATIONS = [
  { server: false, client: false },
  { server: true, client: false },
  { server: false, client: true },
  { server: true, client: true },
];

describe("tunnel-test-server × tunnel-test-client", () => {
  for (const noFlowControl of COMBINATIONS) {
    const revision = noFlowControl.server || noFlowControl.client ? 0 : 1;
    const name =
      `server ${noFlowControl.server ? "-no-flow-control" : "with flow control"}, ` +
      `client ${noFlowControl.client ? "-no-flow-control" : "with flow control"} → revision ${revision}`;

    it(name, async () => {
      const { server, port } = await startServer(noFlowControl.server ? ["-no-flow-control"] : []);
      const client = programs.start(CLIENT_BIN, [
        "-server-port",
        String(port),
        "-tunnel-type",
        "both",
        "-duration",
        DURATION,
        ...(noFlowControl.client ? ["-no-flow-control"] : []),
      ]);
      const exit = await client.exited;
      const output = `--- client ---\n${client.output}--- server ---\n${server.output}`;
      expect(describeExit(exit), output).toBe("exit code 0");

      // Every call kind completed many times over both tunnels, none failed.
      expectManyOfEachKind(countsAfter(client.output, /Forward tunnel/), output);
      expectManyOfEachKind(countsAfter(client.output, /Reverse tunnel/), output);
      // What the server completed as caller is what the client served.
      expect(countsAfter(server.output, /Reverse tunnel to [0-9a-f]{64}/)).toEqual(countsAfter(client.output, /Reverse tunnel/));
      expect(client.output).toMatch(/Forward tunnel: completed .*; no call failed\./);
      expect(client.output).toMatch(/Reverse tunnel: completed .*; no call failed\./);

      // Both programs name the negotiated revision of each tunnel.
      expect(client.output).toContain(`Tunnel created (protocol revision ${revision}).`);
      expect(client.output).toContain(`Reverse tunnel: protocol revision ${revision} (`);
      expect(client.output).toContain(`Reverse tunnel: offering protocol revisions ${noFlowControl.client ? "[0]" : "[0, 1]"}.`);
      expect(server.output).toMatch(new RegExp(`Forward tunnel from 127\\.0\\.0\\.1:\\d+: protocol revision ${revision} `));
      expect(server.output).toMatch(
        new RegExp(`Reverse tunnel opened by 127\\.0\\.0\\.1:\\d+ \\(key = [0-9a-f]{64}\\): protocol revision ${revision}\\.`),
      );
    });
  }
});

describe("command lines", () => {
  it("accept Go-style flags with one or two dashes and -flag=value", async () => {
    const { server, port } = await startServer(["--no-flow-control=true"]);
    await server.waitForLine(/Flow control disabled: offering protocol revision 0 only/);
    const client = programs.start(CLIENT_BIN, [`--server-port=${port}`, "--tunnel-type", "forward", "-duration=200ms"]);
    const exit = await client.exited;
    expect(describeExit(exit), client.output).toBe("exit code 0");
    expect(client.output).toContain("Tunnel created (protocol revision 0).");
    expect(client.output).not.toContain("Checking a reverse tunnel");
  });

  it("reject an unknown flag with Go's message and exit code 2", async () => {
    const client = programs.start(CLIENT_BIN, ["-server-prot", "1"]);
    expect(describeExit(await client.exited)).toBe("exit code 2");
    expect(client.output).toContain("flag provided but not defined: -server-prot");
    expect(client.output).toContain("Usage of tunnel-test-client:");
  });

  it("reject a bad tunnel type like the Go client", async () => {
    const client = programs.start(CLIENT_BIN, ["-tunnel-type", "sideways"]);
    expect(describeExit(await client.exited)).toBe("exit code 1");
    expect(client.output).toContain('tunnel type "sideways" is not valid; must be one of "forward", "reverse", or "both"');
  });
});

import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { openTunnel, ReverseTunnelServer, TunnelServiceClient, unaryCall } from "@protoc-gen-tunnel/runtime";
import { countingTestService, formatCallCounts, newCallCounts, totalCalls } from "../call-counts.js";
import { TestService } from "../gen/grpchantesting/test_pb.js";
import { TunnelTestService } from "../gen/tunneltest_pb.js";
import { DirectChannel } from "../grpc-direct-client.js";
import { sendRpcs } from "../send-rpcs.js";
import { testServiceImpl } from "../test-service.js";
import { FlagError, parseFlags, type FlagValues } from "./flags.js";
import { describeError, fatal, goLog, type Log } from "./log.js";
import { formatRevisions, reverseTunnelInterceptor, type TunnelWatch } from "./tunnel-watch.js";

// tunnel-test-client: the TypeScript twin of grpctunnel's
// internal/cmd/tunneltestclient, with the same flags and checks (INTEROP.md).

const FLAGS = {
  "server-port": { kind: "int", default: 26354, usage: "the port on which the server is listening" },
  "no-flow-control": { kind: "bool", default: false, usage: "disables flow control" },
  "tunnel-type": { kind: "string", default: "both", usage: 'type of tunnel to test, can be "forward", "reverse", or "both"' },
  duration: {
    kind: "duration",
    default: 5000,
    usage:
      "how long the forward-tunnel check sends RPCs; the server decides for reverse tunnels (not in the Go program, which always uses 5s)",
  },
} as const;

const DIAL_TIMEOUT_MS = 5000;

interface Settings {
  address: string;
  noFlowControl: boolean;
  durationMs: number;
  log: Log;
}

export async function main(args: readonly string[]): Promise<void> {
  let flags: FlagValues<typeof FLAGS>;
  try {
    flags = parseFlags("tunnel-test-client", args, FLAGS);
  } catch (e) {
    if (e instanceof FlagError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(e.exitCode);
    }
    throw e;
  }
  const tunnelType = flags["tunnel-type"];
  if (tunnelType !== "forward" && tunnelType !== "reverse" && tunnelType !== "both") {
    fatal(`tunnel type ${JSON.stringify(tunnelType)} is not valid; must be one of "forward", "reverse", or "both"`);
  }
  const settings: Settings = {
    address: `127.0.0.1:${flags["server-port"]}`,
    noFlowControl: flags["no-flow-control"],
    durationMs: flags.duration,
    log: goLog,
  };
  // One connection for everything, as in Go: tunnels and the direct trigger call.
  let reverseWatch: TunnelWatch = {};
  const client = new TunnelServiceClient(settings.address, grpc.credentials.createInsecure(), {
    interceptors: [reverseTunnelInterceptor(() => reverseWatch)],
  });
  try {
    await dial(client);
    if (tunnelType !== "reverse") {
      await checkForwardTunnel(client, settings);
    }
    if (tunnelType !== "forward") {
      await checkReverseTunnel(client, settings, (watch) => (reverseWatch = watch));
    }
  } catch (e) {
    fatal(e);
  } finally {
    client.close();
  }
  // Success!
}

function dial(client: grpc.Client): Promise<void> {
  return new Promise((resolve, reject) => client.waitForReady(Date.now() + DIAL_TIMEOUT_MS, (err) => (err ? reject(err) : resolve())));
}

/** Opens a forward tunnel and runs the load over it, this program being the caller. */
async function checkForwardTunnel(client: grpc.Client, settings: Settings): Promise<void> {
  const { log } = settings;
  log(`Checking a forward tunnel (flow control ${settings.noFlowControl ? "disabled" : "enabled"}).`);
  const tunnel = await openTunnel(client, { disableFlowControl: settings.noFlowControl });
  log(`Tunnel created (protocol revision ${tunnel.protocolRevision}).`);
  const counts = newCallCounts();
  try {
    await sendRpcs(tunnel, { durationMs: settings.durationMs, counts });
  } catch (e) {
    throw new Error(`forward tunnel: ${describeError(e)} (completed before that: ${formatCallCounts(counts)})`);
  } finally {
    tunnel.close();
  }
  log(`Forward tunnel: completed ${formatCallCounts(counts)}; no call failed.`);
  log(`Issued ${totalCalls(counts)} requests over tunnel.`);
}

/**
 * Serves TestService over a reverse tunnel keyed with a random hex key, and
 * asks the server (directly, not tunneled) to run the load over it.
 */
async function checkReverseTunnel(client: grpc.Client, settings: Settings, setWatch: (watch: TunnelWatch) => void): Promise<void> {
  const { log } = settings;
  log(`Checking a reverse tunnel (flow control ${settings.noFlowControl ? "disabled" : "enabled"}).`);
  const key = randomBytes(32).toString("hex");
  const served = newCallCounts();
  const reverseTunnel = new ReverseTunnelServer(client, { disableFlowControl: settings.noFlowControl });
  reverseTunnel.registerService(TestService, countingTestService(testServiceImpl, served));

  const up = new Promise<void>((resolve) =>
    setWatch({
      onOpen: () => resolve(),
      onSettings: (revisions) => log(`Reverse tunnel: offering protocol revisions ${formatRevisions(revisions)}.`),
      onFirstStream: (revision) => log(`Reverse tunnel: protocol revision ${revision} (chosen by the server with its first call).`),
    }),
  );
  const serving = reverseTunnel.serve({ metadata: { "test-client-key": key } });
  const endedEarly = serving.then((result) => {
    throw new Error(`reverse tunnel ended before it was up: ${result.error?.message ?? "no error"}`);
  });
  await Promise.race([up, endedEarly]);
  endedEarly.catch(() => {}); // only relevant while waiting for the tunnel
  log(`Reverse tunnel started (key = ${key}).`);

  // This tells the server to start calls over the reverse tunnel.
  const tester = new DirectChannel(
    new grpc.Client(settings.address, grpc.credentials.createInsecure(), { channelOverride: client.getChannel() }),
  );
  try {
    await unaryCall(tester, TunnelTestService.method.triggerTestRPCs, { clientKey: key });
  } catch (e) {
    throw new Error(`reverse tunnel: TriggerTestRPCs failed: ${describeError(e)} (served before that: ${formatCallCounts(served)})`);
  } finally {
    reverseTunnel.stop();
    const result = await serving;
    if (result.error !== undefined) {
      log(`Reverse tunnel ended with: ${result.error.message}`);
    }
  }
  log(`Reverse tunnel: completed ${formatCallCounts(served)}; no call failed.`);
  log(`Served ${totalCalls(served)} requests over reverse tunnel.`);
}

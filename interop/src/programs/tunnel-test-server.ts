import * as grpc from "@grpc/grpc-js";
import { Code, TunnelError, TunnelServiceHandler, type ServiceImpl } from "@protoc-gen-tunnel/runtime";
import { formatCallCounts, newCallCounts } from "../call-counts.js";
import { TestService } from "../gen/grpchantesting/test_pb.js";
import { TunnelTestService } from "../gen/tunneltest_pb.js";
import { grpcService } from "../grpc-direct-server.js";
import { sendRpcs } from "../send-rpcs.js";
import { testServiceImpl } from "../test-service.js";
import { FlagError, parseFlags, type FlagValues } from "./flags.js";
import { describeError, fatal, goLog, type Log } from "./log.js";
import { watchForwardTunnels } from "./tunnel-watch.js";

// tunnel-test-server: the TypeScript twin of grpctunnel's
// internal/cmd/tunneltestsvr, with the same flags and services (INTEROP.md).

const FLAGS = {
  port: { kind: "int", default: 26354, usage: "the port on which this server will listen" },
  "no-flow-control": { kind: "bool", default: false, usage: "disables flow control" },
  duration: {
    kind: "duration",
    default: 5000,
    usage: "how long TriggerTestRPCs sends RPCs over a reverse tunnel (not in the Go program, which always uses 5s)",
  },
} as const;

const CLIENT_KEY_HEADER = "test-client-key";
const TUNNEL_WAIT_MS = 1000;

export async function main(args: readonly string[]): Promise<void> {
  let flags: FlagValues<typeof FLAGS>;
  try {
    flags = parseFlags("tunnel-test-server", args, FLAGS);
  } catch (e) {
    if (e instanceof FlagError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(e.exitCode);
    }
    throw e;
  }
  const log = goLog;
  const handler = new TunnelServiceHandler<string>({
    affinityKey: (tunnel) => String(tunnel.metadata.get(CLIENT_KEY_HEADER)[0] ?? ""),
    disableFlowControl: flags["no-flow-control"],
    onReverseTunnelOpen: (tunnel) =>
      log(`Reverse tunnel opened by ${tunnel.peer} (key = ${keyOf(tunnel.metadata)}): protocol revision ${tunnel.protocolRevision}.`),
    onReverseTunnelClose: (tunnel) => log(`Reverse tunnel from ${tunnel.peer} (key = ${keyOf(tunnel.metadata)}) closed.`),
  });
  // Over forward tunnels, only the test service is exposed.
  handler.registerService(TestService, testServiceImpl);

  const server = new grpc.Server();
  server.addService(
    ...watchForwardTunnels(handler.service(), (peer) => ({
      onOpen: () => log(`Forward tunnel opened by ${peer}.`),
      onFirstStream: (revision, method) => log(`Forward tunnel from ${peer}: protocol revision ${revision} (first stream ${method}).`),
      onClose: () => log(`Forward tunnel from ${peer} closed.`),
    })),
  );
  server.addService(...grpcService(TunnelTestService, tunnelTester(handler, flags.duration, log)));

  const address = `127.0.0.1:${flags.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  ).catch((e: unknown) => fatal(e));
  log(`Listening on 127.0.0.1:${port}`);
  log(
    `Flow control ${flags["no-flow-control"] ? "disabled: offering protocol revision 0 only" : "enabled: offering protocol revisions 0 and 1"}.`,
  );
  // Runs until killed, like the Go program.
}

/**
 * TunnelTestService: on request, waits (up to 1 s) for the caller's reverse
 * tunnel and runs the "send RPCs" load over it, the server being the caller.
 */
function tunnelTester(handler: TunnelServiceHandler<string>, durationMs: number, log: Log): ServiceImpl<typeof TunnelTestService> {
  return {
    async triggerTestRPCs(request, context) {
      const key = request.clientKey;
      const channel = handler.keyAsChannel(key);
      try {
        await channel.waitForReady({ signal: AbortSignal.any([context.signal, AbortSignal.timeout(TUNNEL_WAIT_MS)]) });
      } catch (e) {
        if (context.signal.aborted) {
          throw e;
        }
        throw new TunnelError(Code.DEADLINE_EXCEEDED, `no reverse tunnel with key ${key} within ${TUNNEL_WAIT_MS} ms`);
      }
      log(`Sending RPCs over reverse tunnel to ${key}`);
      const counts = newCallCounts();
      try {
        await sendRpcs(channel, { durationMs, signal: context.signal, counts });
      } catch (e) {
        log(`RPCs over reverse tunnel to ${key} failed after completing ${formatCallCounts(counts)}: ${describeError(e)}`);
        throw e;
      }
      log(`Reverse tunnel to ${key}: completed ${formatCallCounts(counts)}; no call failed.`);
      return {};
    },
  };
}

function keyOf(metadata: grpc.Metadata): string {
  return String(metadata.get(CLIENT_KEY_HEADER)[0] ?? "");
}

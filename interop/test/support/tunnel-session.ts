import * as grpc from "@grpc/grpc-js";
import { openTunnel, ReverseTunnelServer, TunnelServiceClient, TunnelServiceHandler, type CallChannel } from "@protoc-gen-tunnel/runtime";
import { TestService } from "../../src/gen/grpchantesting/test_pb.js";
import { testServiceImpl } from "../../src/test-service.js";
import { FrameRecorder } from "./frame-recorder.js";
import { legacyClientInterceptor } from "../../../runtime/test/support/legacy-peers.js";
import { Cleanup, startServer } from "../../../runtime/test/support/servers.js";

/** One recorded tunnel: its kind, who disables flow control, what the tunnel RPC carries. */
export interface SessionSetup {
  kind: "forward" | "reverse";
  /** The side that hosts TunnelService offers revision 0 only. */
  networkServerNoFlowControl?: boolean;
  /** The side that dials offers/chooses revision 0 only. */
  networkClientNoFlowControl?: boolean;
  /** Request metadata of the tunnel RPC (reverse tunnels are found by its `test-client-key`). */
  tunnelMetadata?: Record<string, string>;
  /**
   * Hide `grpctunnel-negotiate` in both directions on the network client, as
   * a peer from before protocol revisions would (Go vector fwd-legacy-unary).
   */
  hideNegotiation?: boolean;
  /** Chunk size both ends send (default: the runtime's); the Go vectors use Go's 16 KiB. */
  maxChunkBytes?: number;
}

export type Script = (channel: CallChannel, recorder: FrameRecorder) => Promise<string[]>;

export interface RecordedSession {
  recorder: FrameRecorder;
  /** What the caller saw, as the script reports it. */
  results: string[];
}

const REVERSE_KEY = "test-client-key";

/**
 * Runs `script` over a fresh tunnel between a TunnelServiceHandler and this
 * runtime's client, serving the interop TestService, and records every frame
 * at the network server. Resolves once the tunnel RPC has ended.
 */
export async function recordTunnel(setup: SessionSetup, script: Script): Promise<RecordedSession> {
  const cleanup = new Cleanup();
  try {
    const recorder = new FrameRecorder();
    const limits = setup.maxChunkBytes === undefined ? undefined : { maxChunkBytes: setup.maxChunkBytes };
    const handler = new TunnelServiceHandler<string>({
      disableFlowControl: setup.networkServerNoFlowControl,
      limits,
      affinityKey: (t) => String(t.metadata.get(REVERSE_KEY)[0] ?? ""),
    });
    handler.registerService(TestService, testServiceImpl);
    const srv = await startServer((s) => s.addService(...recorder.wrap(handler.service())));
    cleanup.add(() => srv.server.forceShutdown());
    const client = new TunnelServiceClient(srv.address, grpc.credentials.createInsecure(), {
      interceptors: setup.hideNegotiation ? [legacyClientInterceptor] : [],
    });
    cleanup.add(() => client.close());
    const disableFlowControl = setup.networkClientNoFlowControl;
    const metadata = setup.tunnelMetadata ?? {};

    let results: string[];
    if (setup.kind === "forward") {
      const tunnel = await openTunnel(client, { disableFlowControl, metadata, limits });
      results = await script(tunnel, recorder);
      tunnel.close();
    } else {
      const agent = new ReverseTunnelServer(client, { disableFlowControl, limits });
      agent.registerService(TestService, testServiceImpl);
      const serving = agent.serve({ metadata });
      cleanup.add(() => agent.stop());
      const channel = handler.keyAsChannel(metadata[REVERSE_KEY] ?? "");
      await channel.waitForReady();
      results = await script(channel, recorder);
      agent.stop();
      await serving;
    }
    await recorder.ended;
    return { recorder, results };
  } finally {
    await cleanup.run();
  }
}

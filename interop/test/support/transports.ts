import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { openTunnel, ReverseTunnelServer, TunnelServiceClient, TunnelServiceHandler, type ServiceImpl } from "@protoc-gen-tunnel/runtime";
import { TestService } from "../../src/gen/grpchantesting/test_pb.js";
import { DirectChannel } from "../../src/grpc-direct-client.js";
import type { CallChannel } from "@protoc-gen-tunnel/runtime";
import { grpcService } from "../../src/grpc-direct-server.js";
import { type Cleanup, startServer } from "../../../runtime/test/support/servers.js";

/**
 * One way for a caller to reach a TestService implementation. Conformance
 * tests run the same expectations over each of them.
 */
export interface Transport {
  name: string;
  /** Serves `impl` and returns a channel whose calls reach it; everything is torn down by `cleanup`. */
  connect(impl: Partial<ServiceImpl<typeof TestService>>, cleanup: Cleanup): Promise<CallChannel>;
}

function insecureClient(address: string): TunnelServiceClient {
  return new TunnelServiceClient(address, grpc.credentials.createInsecure());
}

/** The caller opens a forward tunnel to the server that hosts the service. */
function forward(disableFlowControl: boolean): Transport {
  return {
    name: `forward tunnel (revision ${disableFlowControl ? 0 : 1})`,
    async connect(impl, cleanup) {
      const handler = new TunnelServiceHandler();
      handler.registerService(TestService, impl);
      const srv = await startServer((s) => s.addService(...handler.service()));
      cleanup.add(() => srv.server.forceShutdown());
      const client = insecureClient(srv.address);
      cleanup.add(() => client.close());
      const tunnel = await openTunnel(client, { disableFlowControl });
      cleanup.add(() => tunnel.close());
      return tunnel;
    },
  };
}

/** The service runs in the network client, behind a reverse tunnel; the network server calls it by key. */
function reverse(disableFlowControl: boolean): Transport {
  return {
    name: `reverse tunnel (revision ${disableFlowControl ? 0 : 1})`,
    async connect(impl, cleanup) {
      const handler = new TunnelServiceHandler<string>({
        affinityKey: (t) => String(t.metadata.get("test-client-key")[0] ?? ""),
      });
      const srv = await startServer((s) => s.addService(...handler.service()));
      cleanup.add(() => srv.server.forceShutdown());
      const client = insecureClient(srv.address);
      cleanup.add(() => client.close());
      const agent = new ReverseTunnelServer(client, { disableFlowControl });
      agent.registerService(TestService, impl);
      const key = randomUUID();
      const serving = agent.serve({ metadata: { "test-client-key": key } });
      cleanup.add(async () => {
        agent.stop();
        await serving;
      });
      const channel = handler.keyAsChannel(key);
      await channel.waitForReady();
      return channel;
    },
  };
}

/** No tunnel: the service is registered on a grpc-js server and called with grpc-js. */
const direct: Transport = {
  name: "direct grpc-js",
  async connect(impl, cleanup) {
    const srv = await startServer((s) => s.addService(...grpcService(TestService, impl)));
    cleanup.add(() => srv.server.forceShutdown());
    const channel = DirectChannel.connect(srv.address);
    cleanup.add(() => channel.close());
    return channel;
  },
};

export const TRANSPORTS: readonly Transport[] = [forward(false), forward(true), reverse(false), reverse(true), direct];

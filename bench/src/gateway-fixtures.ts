import * as grpc from "@grpc/grpc-js";
import { TestService, grpcService } from "@protoc-gen-tunnel/interop";
import { createTunnelClient, ReverseTunnelServer, TunnelServiceHandler } from "@protoc-gen-tunnel/runtime";
import { allowAll, createTunnelGateway } from "@protoc-gen-tunnel/runtime/gateway";
import { type BenchClient, plainGrpcClient } from "./direct-client.js";
import { listen, plainClient, tunnelServiceClient } from "./fixtures.js";
import { benchServiceImpl } from "./service.js";

const KEY = "agent-0";

/** The three ways of calling one agent's service that the gateway workload compares. */
export interface GatewaySetup {
  /** A plain grpc-js client of the gateway, the key in the `tunnel-key` header; the agent behind a reverse tunnel (revision 1). */
  gateway: BenchClient;
  /** `keyAsChannel(key)` of the same handler, in this process. */
  keyAsChannel: BenchClient;
  /** A plain grpc-js client of a plain grpc-js server of the same service. */
  direct: BenchClient;
  close(): Promise<void>;
}

/** A hub with one agent and a gateway, and a plain server: all in this process, as the direct variant's two ends are. */
export async function startGatewaySetup(): Promise<GatewaySetup> {
  const cleanups: Array<() => unknown> = [];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  };
  try {
    const handler = new TunnelServiceHandler<string>({ affinityKey: () => KEY });
    const hub = new grpc.Server();
    hub.addService(...handler.service());
    const hubAddress = await listen(hub);
    cleanups.push(() => hub.forceShutdown());
    const agentClient = tunnelServiceClient(hubAddress);
    cleanups.push(() => agentClient.close());
    const agent = new ReverseTunnelServer(agentClient);
    agent.registerService(TestService, benchServiceImpl);
    const stop = new AbortController();
    cleanups.push(() => stop.abort());
    void agent.serve({ signal: stop.signal });
    await handler.keyAsChannel(KEY).waitForReady({ signal: AbortSignal.timeout(10_000) });

    const gateway = createTunnelGateway(handler, { authorize: allowAll });
    const server = await gateway.listen();
    cleanups.push(() => server.close());
    const viaGateway = plainClient(server.address);
    cleanups.push(() => viaGateway.close());

    const plain = new grpc.Server();
    plain.addService(...grpcService(TestService, benchServiceImpl));
    const plainAddress = await listen(plain);
    cleanups.push(() => plain.forceShutdown());
    const direct = plainClient(plainAddress);
    cleanups.push(() => direct.close());

    const setup: GatewaySetup = {
      gateway: plainGrpcClient(TestService, withKey(viaGateway)),
      keyAsChannel: createTunnelClient(TestService, handler.keyAsChannel(KEY)),
      direct: plainGrpcClient(TestService, direct),
      close,
    };
    // Connect everything before the first measurement.
    await Promise.all([setup.gateway.unary({}), setup.keyAsChannel.unary({}), setup.direct.unary({})]);
    return setup;
  } catch (e) {
    await close();
    throw e;
  }
}

/** A grpc-js client whose calls all carry the agent's key, added by an interceptor (as a caller's own code would). */
function withKey(client: grpc.Client): grpc.Client {
  const interceptor: grpc.Interceptor = (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, start) {
        metadata.set("tunnel-key", KEY);
        start(metadata, listener);
      },
    });
  return new grpc.Client(client.getChannel().getTarget(), grpc.credentials.createInsecure(), {
    channelOverride: client.getChannel(),
    interceptors: [interceptor],
  });
}

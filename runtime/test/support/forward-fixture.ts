import type * as grpc from "@grpc/grpc-js";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import {
  openTunnel,
  TunnelServiceHandler,
  type ServiceImpl,
  type TunnelChannel,
  type TunnelServiceHandlerOptions,
} from "../../src/index.js";
import type { OpenTunnelOptions } from "../../src/protocol.js";
import { type Cleanup, startServer, tunnelClient, type TestServer } from "./servers.js";

export interface ForwardFixture {
  handler: TunnelServiceHandler;
  server: TestServer;
  client: grpc.Client;
  tunnel: TunnelChannel;
}

export interface ForwardFixtureOptions {
  handler?: TunnelServiceHandlerOptions;
  tunnel?: OpenTunnelOptions;
  /** TestService implementation; the INTEROP.md one by default. */
  impl?: Partial<ServiceImpl<typeof TestService>>;
  serverOptions?: grpc.ServerOptions;
  clientOptions?: grpc.ClientOptions;
  /** Wraps the tunnel service before it is added (e.g. to tap frames). */
  wrapService?: (service: ReturnType<TunnelServiceHandler["service"]>) => [grpc.ServiceDefinition, grpc.UntypedServiceImplementation];
}

/** A grpc-js server hosting TestService over forward tunnels, and one open tunnel to it. */
export async function forwardFixture(cleanup: Cleanup, options: ForwardFixtureOptions = {}): Promise<ForwardFixture> {
  const handler = new TunnelServiceHandler(options.handler);
  handler.registerService(TestService, options.impl ?? testServiceImpl);
  const service: [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] = options.wrapService
    ? options.wrapService(handler.service())
    : handler.service();
  const server = await startServer((s) => s.addService(...service), options.serverOptions);
  cleanup.add(() => server.kill());
  const client = tunnelClient(server.address, options.clientOptions);
  cleanup.add(() => client.close());
  const tunnel = await openTunnel(client, options.tunnel);
  cleanup.add(() => tunnel.close());
  return { handler, server, client, tunnel };
}

export { deferred } from "../../src/deferred.js";

export async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

import * as grpc from "@grpc/grpc-js";
import { TestService, grpcService } from "@protoc-gen-tunnel/interop";
import {
  createTunnelClient,
  openTunnel,
  TunnelServiceHandler,
  TunnelServiceClient,
  withInterceptors,
  type Interceptor,
} from "@protoc-gen-tunnel/runtime";
import type { TunnelLimits } from "@protoc-gen-tunnel/runtime/protocol";
import { controlMethodDefinition, controlService } from "./control-service.js";
import { plainGrpcClient, type BenchClient } from "./direct-client.js";
import { fullGc } from "./gc.js";
import { ServerProcess } from "./server-process.js";
import { benchServiceImpl } from "./service.js";

/** What every workload compares: tunnel revision 1, tunnel revision 0, plain grpc-js. */
export type VariantId = "rev1" | "rev0" | "direct";
export const VARIANTS: readonly VariantId[] = ["rev1", "rev0", "direct"];
export const TUNNEL_VARIANTS = ["rev1", "rev0"] as const;
export type TunnelVariantId = (typeof TUNNEL_VARIANTS)[number];

export const VARIANT_LABELS: Record<VariantId, string> = {
  rev1: "tunnel rev 1",
  rev0: "tunnel rev 0",
  direct: "direct grpc-js",
};

/**
 * What a forward setup can connect: the variants, and the bulk-streaming
 * workloads' control, direct grpc-js given the runtime's serializer
 * (control-service.ts). Results report the control in the direct column
 * of rows of its own, so it is no VariantId.
 */
export type ForwardVariantId = VariantId | "control";
export const CONTROL_LABEL = "direct grpc-js given the runtime's serializer";

/** Each client gets its own HTTP/2 connection, so variants never share one. */
const CLIENT_OPTIONS: grpc.ClientOptions = { "grpc.use_local_subchannel_pool": 1 };

export async function listen(server: grpc.Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  return `127.0.0.1:${port}`;
}

export function tunnelServiceClient(address: string): TunnelServiceClient {
  return new TunnelServiceClient(address, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
}

export function plainClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
}

/** Where the server end runs: in this process (1) or in a child process (2). */
export type Processes = 1 | 2;

/** Interceptors of the tunnel variants (the instrumentation workload traces with them). */
export interface Interceptors {
  server: Interceptor[];
  client: Interceptor[];
}

export interface ForwardSetup {
  /** One client per variant, each on its own connection to the same server. */
  clients: Record<ForwardVariantId, BenchClient>;
  /** CPU time used so far by both ends (this process and, with two processes, the server's), µs. */
  cpuMicros(): Promise<number>;
  /** A full garbage collection at both ends. */
  collect(): Promise<void>;
  close(): void;
}

/** CPU time (user + system, all threads) of this process so far, µs. */
export function ownCpuMicros(): number {
  const used = process.cpuUsage();
  return used.user + used.system;
}

/** A grpc-js server on loopback serving the bench service directly (also as the control) and over forward tunnels. */
export async function startBenchServer(
  limits?: Partial<TunnelLimits>,
  interceptors?: Interceptors,
): Promise<{ address: string; close(): void }> {
  const handler = new TunnelServiceHandler({ limits, interceptors: interceptors?.server });
  handler.registerService(TestService, benchServiceImpl);
  const server = new grpc.Server();
  server.addService(...handler.service());
  server.addService(...grpcService(TestService, benchServiceImpl));
  server.addService(...controlService(TestService, benchServiceImpl));
  const address = await listen(server);
  return { address, close: () => server.forceShutdown() };
}

/**
 * Plain grpc-js with grpc-js's own interceptors at both ends (the
 * instrumentation workload's control): a server of its own serving the bench
 * service directly, and a client of it.
 */
export async function startInterceptedDirect(
  client: grpc.Interceptor,
  server: grpc.ServerInterceptor,
): Promise<{ client: BenchClient; close(): void }> {
  const grpcServer = new grpc.Server({ interceptors: [server] });
  grpcServer.addService(...grpcService(TestService, benchServiceImpl));
  const address = await listen(grpcServer);
  const grpcClient = new grpc.Client(address, grpc.credentials.createInsecure(), { ...CLIENT_OPTIONS, interceptors: [client] });
  const benchClient = plainGrpcClient(TestService, grpcClient);
  await benchClient.unary({});
  return {
    client: benchClient,
    close() {
      grpcClient.close();
      grpcServer.forceShutdown();
    },
  };
}

/** A connection of `variant` to a bench server: a tunnel of that revision, or a plain client. */
export async function connect(
  address: string,
  variant: ForwardVariantId,
  limits?: Partial<TunnelLimits>,
  interceptors?: Interceptors,
): Promise<{ client: BenchClient; close(): void }> {
  if (variant === "direct" || variant === "control") {
    const client = plainClient(address);
    const definitionOf = variant === "control" ? controlMethodDefinition : undefined;
    return { client: plainGrpcClient(TestService, client, definitionOf), close: () => client.close() };
  }
  const client = tunnelServiceClient(address);
  const tunnel = await openTunnel(client, { disableFlowControl: variant === "rev0", limits });
  return {
    client: createTunnelClient(TestService, interceptors === undefined ? tunnel : withInterceptors(tunnel, ...interceptors.client)),
    close() {
      tunnel.close();
      client.close();
    },
  };
}

/**
 * A bench server and a connection of each variant to it, all connected;
 * the server runs here or, with `processes: 2`, in a child process (the
 * server's interceptors apply in this process only).
 */
export async function startForward(
  variants: readonly ForwardVariantId[] = VARIANTS,
  { limits, processes = 1, interceptors }: { limits?: Partial<TunnelLimits>; processes?: Processes; interceptors?: Interceptors } = {},
): Promise<ForwardSetup> {
  if (processes === 2 && interceptors !== undefined) {
    throw new Error("startForward: interceptors run in this process only (processes: 1)");
  }
  const remote = processes === 2 ? await ServerProcess.start(limits) : undefined;
  const server = remote ?? (await startBenchServer(limits, interceptors));
  const cleanups: Array<() => void> = [() => server.close()];
  const clients: Partial<Record<ForwardVariantId, BenchClient>> = {};
  for (const variant of variants) {
    const connection = await connect(server.address, variant, limits, interceptors);
    cleanups.push(() => connection.close());
    clients[variant] = connection.client;
  }
  // Connect everything before the first measurement.
  await Promise.all(Object.values(clients).map((client) => client.unary({})));
  return {
    clients: clients as Record<ForwardVariantId, BenchClient>,
    cpuMicros: async () => ownCpuMicros() + (remote === undefined ? 0 : await remote.cpuMicros()),
    async collect() {
      fullGc();
      await remote?.collect();
    },
    close() {
      for (const cleanup of cleanups.reverse()) {
        cleanup();
      }
    },
  };
}

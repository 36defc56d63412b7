import { setMaxListeners } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { TestService, grpcService } from "@protoc-gen-tunnel/interop";
import { createTunnelClient, ReverseTunnelServer, TunnelServiceHandler, type TunnelChannel } from "@protoc-gen-tunnel/runtime";
import { plainGrpcClient, type BenchClient } from "./direct-client.js";
import { listen, plainClient, tunnelServiceClient, type VariantId } from "./fixtures.js";
import { benchServiceImpl } from "./service.js";

const AGENT_KEY = "agent-key";

export interface ReverseSetup {
  /** Per variant, one client per agent: over `keyAsChannel(key)` for tunnels, a plain client for direct. */
  clients: Record<VariantId, BenchClient[]>;
  close(): void;
}

/**
 * `agents` network clients ("agents") each serving the bench service to one
 * hub: over reverse tunnels of each revision, and directly (the hub holds a
 * plain grpc-js connection to an agent-side server per agent).
 */
export async function startReverse(agents: number, variants: readonly VariantId[]): Promise<ReverseSetup> {
  const cleanups: Array<() => void> = [];
  const clients: Partial<Record<VariantId, BenchClient[]>> = {};
  try {
    for (const variant of variants) {
      clients[variant] =
        variant === "direct" ? await directAgents(agents, cleanups) : await reverseAgents(agents, variant === "rev0", cleanups);
    }
  } catch (e) {
    runAll(cleanups);
    throw e;
  }
  return { clients: clients as Record<VariantId, BenchClient[]>, close: () => runAll(cleanups) };
}

function runAll(cleanups: Array<() => void>): void {
  for (const cleanup of cleanups.splice(0).reverse()) {
    cleanup();
  }
}

async function reverseAgents(agents: number, revisionZero: boolean, cleanups: Array<() => void>): Promise<BenchClient[]> {
  let opened = 0;
  let handler!: TunnelServiceHandler<string>;
  const ready = new Promise<void>((allOpen) => {
    handler = new TunnelServiceHandler<string>({
      affinityKey: (tunnel: TunnelChannel) => String(tunnel.metadata.get(AGENT_KEY)[0]),
      onReverseTunnelOpen: () => {
        if (++opened === agents) {
          allOpen();
        }
      },
    });
  });
  const hub = new grpc.Server();
  hub.addService(...handler.service());
  const address = await listen(hub);
  cleanups.push(() => hub.forceShutdown());
  const stop = new AbortController();
  setMaxListeners(agents * 2, stop.signal); // one signal ends every agent's serve()
  cleanups.push(() => stop.abort());
  const keys: string[] = [];
  for (let i = 0; i < agents; i++) {
    const key = `agent-${i}`;
    keys.push(key);
    const client = tunnelServiceClient(address);
    cleanups.push(() => client.close());
    const rts = new ReverseTunnelServer(client, { disableFlowControl: revisionZero });
    rts.registerService(TestService, benchServiceImpl);
    cleanups.push(() => rts.stop());
    void rts.serve({ metadata: { [AGENT_KEY]: key }, signal: stop.signal });
  }
  await ready;
  return keys.map((key) => createTunnelClient(TestService, handler.keyAsChannel(key)));
}

async function directAgents(agents: number, cleanups: Array<() => void>): Promise<BenchClient[]> {
  const server = new grpc.Server();
  server.addService(...grpcService(TestService, benchServiceImpl));
  const address = await listen(server);
  cleanups.push(() => server.forceShutdown());
  const clients: BenchClient[] = [];
  for (let i = 0; i < agents; i++) {
    const client = plainClient(address);
    cleanups.push(() => client.close());
    clients.push(plainGrpcClient(TestService, client));
  }
  // Connect every agent before the first measurement.
  await Promise.all(clients.map((client) => client.unary({})));
  return clients;
}

import type { MetadataInit } from "../../metadata.js";
import { ReverseTunnelServer, type ReverseTunnelServerOptions, type ServeOptions, type ServeResult } from "../reverse/index.js";
import type { ReverseChannels } from "../reverse/index.js";
import { InProcessClient, type TunnelServiceHost } from "./in-process-client.js";

/** Options of `startTestAgent`. */
export interface TestAgentOptions {
  /** The tunnel metadata the agent dials with (e.g. its device ID). */
  metadata?: MetadataInit;
  /** Registers the agent's services, e.g. `(server) => registerFooService(server, impl)`. */
  register(server: ReverseTunnelServer): void;
  /** Options of the agent's ReverseTunnelServer (interceptors, limits). */
  serverOptions?: ReverseTunnelServerOptions;
  /** Options of its `serve` (besides `metadata`). */
  serveOptions?: Omit<ServeOptions, "metadata">;
}

/** An agent connected in process. */
export interface TestAgent {
  /** The agent's ReverseTunnelServer. */
  readonly server: ReverseTunnelServer;
  /** The in-process client it dialed through. */
  readonly client: InProcessClient;
  /** What its `serve` resolves with, once its tunnel has ended. */
  readonly serving: Promise<ServeResult>;
  /** Stops the agent (its tunnel ends cleanly, running calls are cancelled) and closes its client. */
  stop(): Promise<void>;
}

/**
 * An agent (a ReverseTunnelServer with the services `register` adds)
 * connected to `handler` in process, as if it had dialed out over the
 * network: the handler's `keyAsChannel`, generated factories and fan-out
 * reach it. Resolves once the handler has registered the agent's tunnel
 * (calls may pick it); rejects if the tunnel ended first (e.g. the
 * handler's `affinityKey` refused it).
 */
export async function startTestAgent(
  handler: TunnelServiceHost & Pick<ReverseChannels<unknown>, "allReverseTunnels">,
  options: TestAgentOptions,
): Promise<TestAgent> {
  const client = new InProcessClient(handler);
  const server = new ReverseTunnelServer(client, options.serverOptions);
  options.register(server);
  let ended: ServeResult | undefined;
  const serving = server.serve({ ...options.serveOptions, metadata: options.metadata });
  void serving.then((result) => (ended = result));
  // The handler registers a tunnel once it has read the agent's settings;
  // nothing announces it to the agent's side, so this looks for it.
  while (!handler.allReverseTunnels().some((tunnel) => tunnel.peer === client.peer)) {
    if (ended !== undefined) {
      client.close();
      throw new Error(`the agent's tunnel ended before the handler registered it: ${ended.error?.message ?? "closed"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return {
    server,
    client,
    serving,
    async stop() {
      server.stop();
      await serving;
      client.close();
    },
  };
}

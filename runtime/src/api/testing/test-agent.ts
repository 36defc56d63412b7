import type { MetadataInit } from "../../metadata.js";
import { ReverseTunnelServer, type ReverseTunnelServerOptions, type ServeOptions, type ServeResult } from "../reverse/index.js";
import type { ReverseChannels } from "../reverse/index.js";
import { InProcessClient, type TunnelServiceHost } from "./in-process-client.js";

/** Options of `startTestAgent`. */
export interface TestAgentOptions<K> {
  /** The tunnel metadata the agent dials with (e.g. its device ID). */
  metadata?: MetadataInit;
  /** Registers the agent's services, e.g. `(server) => registerFooService(server, impl)`. */
  register(server: ReverseTunnelServer): void;
  /** Wait until the handler can call the agent by this key before resolving. */
  key?: K;
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
 * reach it. With `key`, resolves once the handler can call it by that key.
 */
export async function startTestAgent<K>(handler: TunnelServiceHost & ReverseChannels<K>, options: TestAgentOptions<K>): Promise<TestAgent> {
  const client = new InProcessClient(handler);
  const server = new ReverseTunnelServer(client, options.serverOptions);
  options.register(server);
  const serving = server.serve({ ...options.serveOptions, metadata: options.metadata });
  if (options.key !== undefined) {
    const stopWaiting = new AbortController();
    void serving.then(() => stopWaiting.abort(new Error("the agent's tunnel ended before the handler could call it")));
    try {
      await handler.keyAsChannel(options.key).waitForReady({ signal: stopWaiting.signal });
    } finally {
      stopWaiting.abort();
    }
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

/**
 * A network server ("hub") hosting a TunnelServiceHandler and network clients
 * ("agents") that each serve TestService over reverse tunnels, all in one
 * process on real grpc-js servers and loopback connections.
 */
import type * as grpc from "@grpc/grpc-js";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { TestService, testServiceImpl, type Message } from "@protoc-gen-tunnel/interop";
import {
  ReverseTunnelServer,
  TunnelServiceHandler,
  type HandlerContext,
  type ServiceImpl,
  type TunnelChannel,
  type TunnelServiceHandlerOptions,
} from "../../src/index.js";
import type { ReverseTunnelServerOptions, ServeOptions, ServeResult } from "../../src/protocol.js";
import { EventLog } from "./events.js";
import { deferred } from "../../src/deferred.js";
import { LocalReverseTunnelRegistry } from "../../src/api/reverse/index.js";
import { startServer, tunnelClient, type Cleanup, type TestServer } from "./servers.js";

/** Tunnel metadata an agent opens its reverse tunnel with. */
export const AGENT_KEY = "agent-key";
export const AGENT_NAME = "agent-name";
/** Response-message header key the agents' TestService stamps with their name. */
export const SERVED_BY = "x-served-by";

export interface HubOptions<K> extends TunnelServiceHandlerOptions<K> {
  /** Listen on this port (to restart a hub where the previous one was). */
  port?: number;
  serverOptions?: grpc.ServerOptions;
  /** Insecure by default. */
  serverCredentials?: grpc.ServerCredentials;
  /** Sees each reverse tunnel RPC right after the handler took it (its listeners are registered by then). */
  onReverseTunnelRpc?: (call: grpc.ServerDuplexStream<unknown, unknown>) => void;
}

export interface Hub<K> {
  handler: TunnelServiceHandler<K>;
  server: TestServer;
  address: string;
  port: number;
  opened: EventLog<TunnelChannel>;
  closed: EventLog<TunnelChannel>;
  /** How often `affinityKey` ran. */
  keyCalls: () => number;
  /** The reverse tunnel of the agent named `name`, once it is open (and registered). */
  tunnelOf(name: string): Promise<TunnelChannel>;
  /** Resolves once the tunnel of the agent named `name` has closed. */
  closedTunnelOf(name: string): Promise<TunnelChannel>;
}

/** The name an agent put in its tunnel metadata. */
export function agentName(tunnel: TunnelChannel): string {
  return String(tunnel.metadata.get(AGENT_NAME)[0] ?? "");
}

/** Affinity key of the hubs: the first `agent-key` value (empty if absent). */
export function keyFromMetadata(tunnel: TunnelChannel): string {
  return String(tunnel.metadata.get(AGENT_KEY)[0] ?? "");
}

export async function startHub<K = string>(cleanup: Cleanup, options: HubOptions<K> = {}): Promise<Hub<K>> {
  const opened = new EventLog<TunnelChannel>();
  const closed = new EventLog<TunnelChannel>();
  let keyCalls = 0;
  const userKey = options.affinityKey ?? ((t: TunnelChannel) => keyFromMetadata(t) as K);
  const handler = new TunnelServiceHandler<K>({
    ...options,
    affinityKey: (t) => {
      keyCalls++;
      return userKey(t);
    },
    onReverseTunnelOpen: (t) => {
      opened.push(t);
      options.onReverseTunnelOpen?.(t);
    },
    onReverseTunnelClose: (t) => {
      closed.push(t);
      options.onReverseTunnelClose?.(t);
    },
  });
  const [definition, implementation] = handler.service();
  const openReverseTunnel = implementation.openReverseTunnel as grpc.handleBidiStreamingCall<unknown, unknown>;
  const onRpc = options.onReverseTunnelRpc;
  const service =
    onRpc === undefined
      ? implementation
      : {
          ...implementation,
          openReverseTunnel: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
            openReverseTunnel(call);
            onRpc(call);
          },
        };
  const server = await startServer(
    (s) => s.addService(definition, service),
    options.serverOptions,
    options.port,
    options.serverCredentials,
  );
  cleanup.add(() => server.kill());
  return {
    handler,
    server,
    address: server.address,
    port: server.port,
    opened,
    closed,
    keyCalls: () => keyCalls,
    tunnelOf: (name) => opened.waitFor((t) => agentName(t) === name),
    closedTunnelOf: (name) => closed.waitFor((t) => agentName(t) === name),
  };
}

export interface AgentOptions {
  name: string;
  /** Affinity key sent as `agent-key` metadata (defaults to the name). */
  key?: string;
  rts?: ReverseTunnelServerOptions;
  /** Extra serve options (metadata is merged with the agent's identity). */
  serve?: Omit<ServeOptions, "signal">;
  /** Methods that replace the tagged TestService ones. */
  impl?: Partial<ServiceImpl<typeof TestService>>;
  clientOptions?: grpc.ClientOptions;
  /** Insecure by default. */
  credentials?: grpc.ChannelCredentials;
  /** Do not call serve(): the test drives the ReverseTunnelServer itself. */
  manual?: boolean;
}

export interface Agent {
  name: string;
  key: string;
  rts: ReverseTunnelServer;
  client: grpc.Client;
  /** Aborting it ends the agent's serve() (and its reconnect loop). */
  controller: AbortController;
  /** The result of the agent's serve() (never settles for `manual` agents). */
  serving: Promise<ServeResult>;
  /** The agent's serve options (identity metadata included), for manual serve() calls. */
  serveOptions: ServeOptions;
}

/**
 * A network client with its own connection (local subchannel pool), serving
 * TestService with every response stamped `x-served-by: <name>`.
 */
export function startAgent(cleanup: Cleanup, address: string, options: AgentOptions): Agent {
  const key = options.key ?? options.name;
  const client = tunnelClient(address, { "grpc.use_local_subchannel_pool": 1, ...options.clientOptions }, options.credentials);
  cleanup.add(() => client.close());
  const rts = new ReverseTunnelServer(client, options.rts);
  rts.registerService(TestService, { ...taggedTestService(options.name), ...options.impl });
  cleanup.add(() => rts.stop());
  const controller = new AbortController();
  cleanup.add(() => controller.abort());
  const extra = options.serve?.metadata ?? {};
  const serveOptions: ServeOptions = {
    ...options.serve,
    metadata: { ...(extra as Record<string, string>), [AGENT_KEY]: key, [AGENT_NAME]: options.name },
    signal: controller.signal,
  };
  const serving = options.manual ? new Promise<ServeResult>(() => {}) : rts.serve(serveOptions);
  return { name: options.name, key, rts, client, controller, serving, serveOptions };
}

/** Starts an agent and waits until the hub has registered its tunnel. */
export async function connectAgent<K>(cleanup: Cleanup, hub: Hub<K>, options: AgentOptions): Promise<Agent & { tunnel: TunnelChannel }> {
  const agent = startAgent(cleanup, hub.address, options);
  const tunnel = await Promise.race([
    hub.tunnelOf(options.name),
    agent.serving.then((r) => {
      throw new Error(`agent ${options.name} stopped before its tunnel opened: ${r.error?.message}`);
    }),
  ]);
  return { ...agent, tunnel };
}

/** Which agent served a response (from the stamp the agents' TestService adds). */
export function servedBy(message: Message): string {
  const stamp = message.headers[SERVED_BY];
  return stamp === undefined ? "" : Buffer.from(stamp).toString("utf8");
}

function stamp<T extends MessageInitShape<DescMessage> & { headers?: Record<string, Uint8Array> }>(name: string, res: T): T {
  return { ...res, headers: { ...res.headers, [SERVED_BY]: Buffer.from(name) } };
}

/** The interop TestService, with every response stamped with the agent's name. */
export function taggedTestService(name: string): ServiceImpl<typeof TestService> {
  return {
    async unary(req, ctx) {
      return stamp(name, await testServiceImpl.unary(req, ctx));
    },
    async clientStream(requests, ctx) {
      return stamp(name, await testServiceImpl.clientStream(requests, ctx));
    },
    async *serverStream(req, ctx) {
      for await (const res of testServiceImpl.serverStream(req, ctx)) {
        yield stamp(name, res);
      }
    },
    async *bidiStream(requests, ctx) {
      for await (const res of testServiceImpl.bidiStream(requests, ctx)) {
        yield stamp(name, res);
      }
    },
    useExternalMessageTwice: testServiceImpl.useExternalMessageTwice,
  };
}

/**
 * A server-streaming handler that sends its first response, reports that it
 * is running, and sends the rest (`count` in all) only once released. Its
 * context's signal is reported when it aborts.
 */
export class Gate {
  readonly entered = deferred<HandlerContext>();
  readonly aborted = deferred<unknown>();
  /** True once the handler's signal aborted. */
  wasAborted = false;
  private readonly released = deferred<void>();

  release(): void {
    this.released.resolve();
  }

  readonly serverStream: ServiceImpl<typeof TestService>["serverStream"] = (req, ctx) => {
    const gate = this;
    return (async function* () {
      ctx.signal.addEventListener(
        "abort",
        () => {
          gate.wasAborted = true;
          gate.aborted.resolve(ctx.signal.reason);
        },
        { once: true },
      );
      yield { payload: req.payload, count: 0 };
      gate.entered.resolve(ctx);
      await Promise.race([
        gate.released.promise,
        new Promise<never>((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true })),
      ]);
      for (let i = 1; i < req.count; i++) {
        yield { payload: req.payload, count: i };
      }
    })();
  };
}

/** Reads a server stream to the end, collecting the responses or the error. */
export async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) {
    out.push(item);
  }
  return out;
}

/** `n` requests with the given payload size, as an async iterable. */
export async function* requests(n: number, size = 1): AsyncGenerator<MessageInitShape<typeof TestService.method.unary.input>> {
  for (let i = 0; i < n; i++) {
    yield { payload: new Uint8Array(size).fill(i % 256), count: i };
  }
}

/** A local registry that records the tunnels reported draining (the hook a registry shared by replicas uses) and those it holds. */
export class RecordingRegistry<K> extends LocalReverseTunnelRegistry<K> {
  readonly drained: TunnelChannel[] = [];
  /** The tunnels added and not removed since: what the registry keeps alive. */
  readonly held = new Set<TunnelChannel>();
  override add(tunnel: TunnelChannel, key: K): void {
    this.held.add(tunnel);
    super.add(tunnel, key);
  }
  override remove(tunnel: TunnelChannel): void {
    this.held.delete(tunnel);
    super.remove(tunnel);
  }
  override markDraining(tunnel: TunnelChannel): void {
    this.drained.push(tunnel);
    super.markDraining(tunnel);
  }
}

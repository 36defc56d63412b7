/**
 * A cluster of replica processes for the acceptance tests: each replica is
 * runtime/test/cluster/replica-server.mjs in a child process (its public
 * port, its relay listener, a cluster-mode handler), all on one Redis under
 * a namespace of the test's own; a round-robin TCP balancer (TcpProxy) in
 * front of their public ports; and agents in this process that dial the
 * balancer and reconnect through it.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { createClient } from "redis";
import type { TestService } from "@protoc-gen-tunnel/interop";
import type { RedisAffinityDirectoryOptions } from "../../src/cluster.js";
import type { ServiceImpl } from "../../src/index.js";
import { EventLog } from "./events.js";
import { startAgent, type Agent } from "./reverse.js";
import type { Cleanup } from "./servers.js";
import { TcpProxy } from "./tcp-proxy.js";

const SERVER = new URL("../cluster/replica-server.mjs", import.meta.url).pathname;

/** Short leases so that a dead replica's entries leave Redis within seconds. */
export const PROCESS_LEASE_MS = 1_500;
export const PROCESS_REFRESH_MS = 300;

/** Agents reconnect fast: tests wait for it on conditions, never on time. */
const AGENT_RECONNECT = { initialBackoffMs: 50, maxBackoffMs: 500, healthyAfterMs: 1_000 };
const AGENT_CLIENT: grpc.ClientOptions = { "grpc.initial_reconnect_backoff_ms": 50, "grpc.max_reconnect_backoff_ms": 500 };

export interface TunnelEvent {
  event: "open" | "close";
  key: string;
  agent: string;
}

interface Reply {
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: { code?: number; message: string };
  event?: string;
}

/** A failed operation of a replica process, with the gRPC code of the call that failed. */
export class ReplicaError extends Error {
  constructor(
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** One replica process and the IPC to it. */
export class ReplicaProcess {
  readonly tunnels = new EventLog<TunnelEvent>();
  readonly exited: Promise<number | null>;
  port = 0;
  relayAddress = "";
  /** Its HTTP port: /healthz, /readyz and the admin endpoints (tunnelctl's). */
  httpPort = 0;
  /** Its tunnel gateway's port (gRPC, Connect, gRPC-Web). */
  gatewayPort = 0;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  private constructor(
    readonly replicaId: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    void this.exited.then(() => {
      for (const { reject } of this.pending.values()) reject(new Error(`replica ${replicaId} exited`));
      this.pending.clear();
    });
  }

  static async start(config: ReplicaConfig): Promise<ReplicaProcess> {
    const child = fork(SERVER, [JSON.stringify(config)], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const replica = new ReplicaProcess(config.replicaId, child);
    const ready = new Promise<void>((resolve, reject) => {
      child.on("message", (message: Reply & { port?: number; relayAddress?: string; httpPort?: number; gatewayPort?: number }) => {
        if (message.event === "ready") {
          replica.port = message.port!;
          replica.relayAddress = message.relayAddress!;
          replica.httpPort = message.httpPort!;
          replica.gatewayPort = message.gatewayPort!;
          resolve();
        } else {
          replica.receive(message);
        }
      });
      void replica.exited.then((code) => reject(new Error(`replica ${config.replicaId} exited (${code}) before it was ready`)));
    });
    await ready;
    return replica;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** http://127.0.0.1:<httpPort> */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Sends a signal (SIGTERM: the graceful shutdown of shutdownOnSignal). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Runs an operation of replica-server.mjs; rejects with a ReplicaError carrying the failed call's code. */
  request<T>(op: string, args: object = {}): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  /** True once this replica reported a tunnel for `key` open and not closed since. */
  holds(key: string): boolean {
    const events = this.tunnels.items.filter((e) => e.key === key);
    const opened = events.filter((e) => e.event === "open").length;
    return opened > events.length - opened;
  }

  /** kill -9, resolved once the process is gone. */
  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** The rolling-deploy recipe in the replica (drain, leave, stop), resolved once the process exited. */
  async drainAndExit(graceMs: number): Promise<void> {
    await this.request("drain", { graceMs });
    await this.exited;
  }

  private receive(message: Reply): void {
    if (message.event === "open" || message.event === "close") {
      this.tunnels.push(message as TunnelEvent);
      return;
    }
    const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
    if (waiter === undefined) {
      return;
    }
    this.pending.delete(message.id!);
    if (message.ok) {
      waiter.resolve(message.result);
    } else {
      waiter.reject(new ReplicaError(message.error?.code, `replica ${this.replicaId}: ${message.error?.message}`));
    }
  }
}

export interface ReplicaConfig {
  redisUrl: string;
  namespace: string;
  replicaId: string;
  secret: string;
  leaseMs: number;
  refreshMs: number;
  commandTimeoutMs?: number;
  /** joinCluster's `rebalance`. */
  rebalance?: { intervalMs?: number; threshold?: number; maxShedPerInterval?: number; graceMs?: number };
  /** The handler's `quotas` (JSON), with callers named by this request header. */
  quotas?: { perKey?: object; perCaller?: object; callerHeader?: string; maxTracked?: number };
  /** fleetAdmin's token (POST /drain needs one). */
  adminToken?: string;
  /** shutdownOnSignal's graceMs. */
  shutdownGraceMs?: number;
  directoryGraceMs?: number;
  /** More options of the replica's RedisAffinityDirectory. */
  directory?: Partial<Pick<RedisAffinityDirectoryOptions, "maxPendingRemovalBytes">>;
}

/** What every replica of a ProcessCluster is started with besides its identity. */
export type ReplicaExtras = Pick<
  ReplicaConfig,
  "rebalance" | "quotas" | "adminToken" | "shutdownGraceMs" | "directoryGraceMs" | "directory"
>;

export interface AgentSpec {
  name: string;
  key: string;
  impl?: Partial<ServiceImpl<typeof TestService>>;
}

/** Replica processes behind a balancer, with agents dialing it. */
export class ProcessCluster {
  readonly namespace = `test-${randomUUID()}`;
  readonly replicas: ReplicaProcess[] = [];
  readonly agents: Agent[] = [];
  private generation = 0;

  private constructor(
    private readonly cleanup: Cleanup,
    readonly redisUrl: string,
    readonly balancer: TcpProxy,
    private readonly secret: string,
    private readonly extras: ReplicaExtras,
  ) {}

  static async start(cleanup: Cleanup, redisUrl: string, replicas: number, extras: ReplicaExtras = {}): Promise<ProcessCluster> {
    const balancer = await TcpProxy.start([]);
    cleanup.add(() => balancer.close());
    const cluster = new ProcessCluster(cleanup, redisUrl, balancer, `secret-${randomUUID()}`, extras);
    for (let i = 1; i <= replicas; i++) {
      await cluster.addReplica();
    }
    return cluster;
  }

  /** Starts a replica and puts it behind the balancer; ids are r1, r2, ... in start order. */
  async addReplica(): Promise<ReplicaProcess> {
    const replica = await ReplicaProcess.start({
      redisUrl: this.redisUrl,
      namespace: this.namespace,
      replicaId: `r${++this.generation}`,
      secret: this.secret,
      leaseMs: PROCESS_LEASE_MS,
      refreshMs: PROCESS_REFRESH_MS,
      ...this.extras,
    });
    this.cleanup.add(() => replica.kill());
    this.replicas.push(replica);
    this.balancer.setTargets([...this.balancer.targetPorts, replica.port]);
    return replica;
  }

  /** Takes a replica out of the balancer (what failing a readiness probe does). */
  unbalance(replica: ReplicaProcess): void {
    this.balancer.setTargets(this.balancer.targetPorts.filter((port) => port !== replica.port));
  }

  /** Forgets a replica that exited; `unbalance: false` leaves its port behind the balancer (which then passes its connections on). */
  remove(replica: ReplicaProcess, options: { unbalance?: boolean } = {}): void {
    if (options.unbalance !== false) {
      this.unbalance(replica);
    }
    this.replicas.splice(this.replicas.indexOf(replica), 1);
  }

  /** The keys of this cluster in Redis that name `replicaId`: its record, and entries it is a member of (expired leases included). */
  async redisEntriesOf(replicaId: string): Promise<string[]> {
    const client = createClient({ url: this.redisUrl });
    client.on("error", () => {});
    await client.connect();
    try {
      const found: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${this.namespace}:*`, COUNT: 1000 })) {
        for (const key of batch) {
          if (key === `${this.namespace}:replica:${replicaId}`) {
            found.push(key);
          } else if (key.startsWith(`${this.namespace}:key:`) && (await client.zScore(key, replicaId)) !== null) {
            found.push(key);
          }
        }
      }
      return found.sort();
    } finally {
      client.destroy();
    }
  }

  /** The affinity keys Redis says `replicaId` holds now (unexpired leases). */
  async heldInRedis(replicaId: string): Promise<string[]> {
    const routes = await Promise.all(
      this.agentKeys().map(async (key) => ({
        key,
        routes: await this.replicas[0].request<Array<{ replicaId: string }>>("lookup", { key }),
      })),
    );
    return routes.filter(({ routes }) => routes.some((r) => r.replicaId === replicaId)).map(({ key }) => key);
  }

  /** The keys of the agents started so far. */
  agentKeys(): string[] {
    return this.agents.map((agent) => agent.key);
  }

  /** Starts an agent that dials the balancer (and reconnects through it); resolves with the replica that got it. */
  async connectAgent(spec: AgentSpec): Promise<{ agent: Agent; replica: ReplicaProcess }> {
    const agent = startAgent(this.cleanup, this.balancer.address, {
      name: spec.name,
      key: spec.key,
      impl: spec.impl,
      clientOptions: AGENT_CLIENT,
      serve: { reconnect: AGENT_RECONNECT },
    });
    this.agents.push(agent);
    return { agent, replica: await this.holderOf(spec.key) };
  }

  /** The replica holding a tunnel for `key`, once one reports it. */
  async holderOf(key: string): Promise<ReplicaProcess> {
    return Promise.any(
      this.replicas.map((replica) =>
        replica.tunnels.waitFor((e) => e.key === key && e.event === "open" && replica.holds(key)).then(() => replica),
      ),
    );
  }
}

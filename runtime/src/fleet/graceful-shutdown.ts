import { setTimeout as sleep } from "node:timers/promises";

/** A TunnelServiceHandler, as the shutdown drains it. */
export interface DrainableHandler {
  /** Stops taking tunnels and calls; resolves once running calls finished or `graceMs` is over. */
  drain(options: { graceMs: number }): Promise<void>;
}

/** A ReverseTunnelServer (an agent), as the shutdown stops it. */
export interface StoppableAgent {
  /** Ends its reverse tunnels once their calls finished, within `graceMs`. */
  gracefulStop(options: { graceMs: number }): Promise<void>;
}

/** What drains: a TunnelServiceHandler (`drain`) or a ReverseTunnelServer (`gracefulStop`). */
export type Drainable = DrainableHandler | StoppableAgent;

/** Health endpoints, as the shutdown fails their readiness. */
export interface ShutdownHealth {
  /** Fails readiness from now on. */
  shutDown(): void;
}

/** A TunnelCluster, as the shutdown leaves it. */
export interface LeavableCluster {
  /** Withdraws this replica's keys and closes its relay tunnels. */
  close(): Promise<void>;
}

/** A grpc-js server, as the shutdown stops it. */
export interface StoppableServer {
  /** Stops accepting connections; calls `callback` once the open ones ended. */
  tryShutdown(callback: (error?: Error) => void): void;
  /** Ends every connection now. */
  forceShutdown(): void;
}

/** Options of `shutdownOnSignal`. */
export interface GracefulShutdownOptions {
  /** Health endpoints whose readiness fails first (`controlServerHealth`, `agentHealth`). */
  health?: ShutdownHealth;
  /** Drained after readiness failed: running calls finish, tunnels end cleanly (agents reconnect elsewhere). */
  handler?: Drainable;
  /** Left after the drain (a TunnelCluster): keys withdrawn, relay tunnels closed. */
  cluster?: LeavableCluster;
  /** grpc-js servers to stop: `tryShutdown` once the drain starts, `forceShutdown` when the grace period is over. */
  servers?: readonly StoppableServer[];
  /** Runs last, before exiting (close the health endpoints' HTTP server, flush logs, ...). */
  onStopped?: () => void | Promise<void>;
  /**
   * How long to keep serving after readiness failed, before draining, in ms;
   * default 0. Balancers take a moment to notice a failed probe; on
   * Kubernetes a `preStop` sleep does the same before SIGTERM arrives.
   */
  readinessDelayMs?: number;
  /** How long running calls may take to finish, in ms; default 20,000. Keep it below `terminationGracePeriodSeconds`. */
  graceMs?: number;
  /** The signals that start it; default SIGTERM and SIGINT. A second one stops at once (exit code 1). */
  signals?: readonly NodeJS.Signals[];
  /** Exit the process at the end: code 0 after a clean shutdown, 1 otherwise; default true. */
  exit?: boolean;
  /** Progress lines ("draining", "stopped"), e.g. `console.error`; none by default. */
  log?: (line: string) => void;
}

/** How a shutdown went. */
export interface ShutdownResult {
  /** False when the grace period ran out (calls were cut short) or a step failed. */
  readonly clean: boolean;
  /** From the signal to the end, in ms. */
  readonly durationMs: number;
  /** The first step that failed, if one did. */
  readonly error?: Error;
}

/** A graceful shutdown waiting for its signal. */
export interface GracefulShutdown {
  /** Starts it now (as a signal would); the same promise every time. */
  shutdown(): Promise<ShutdownResult>;
  /** Stops listening for the signals. */
  dispose(): void;
}

const DEFAULT_GRACE_MS = 20_000;
/** Beyond the grace period, what the servers get to finish before they are forced. */
const FORCE_MARGIN_MS = 1_000;

/**
 * Wires the signals an orchestrator sends (SIGTERM) to a graceful shutdown:
 *
 * 1. readiness fails (`health.shutDown()`), so the balancer stops sending
 *    new connections; then `readinessDelayMs`;
 * 2. the servers stop accepting connections (`tryShutdown`) and the handler
 *    drains: no new tunnels or calls, running calls finish, each tunnel ends
 *    cleanly once idle (agents reconnect through the balancer to another
 *    replica), at most `graceMs`;
 * 3. the cluster is left (keys withdrawn); the servers are forced down if
 *    they still have not stopped;
 * 4. `onStopped`, then the process exits (0 if everything ended in time).
 *
 * ```ts
 * shutdownOnSignal({ health, handler, cluster, servers: [server, relayServer], graceMs: 20_000,
 *   onStopped: () => new Promise((resolve) => healthServer.close(() => resolve())) });
 * ```
 */
export function shutdownOnSignal(options: GracefulShutdownOptions): GracefulShutdown {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const delayMs = options.readinessDelayMs ?? 0;
  for (const [name, value] of [
    ["graceMs", graceMs],
    ["readinessDelayMs", delayMs],
  ] as const) {
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`shutdownOnSignal: ${name} must be a finite number >= 0 (got ${value})`);
    }
  }
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const log = options.log ?? (() => {});
  let running: Promise<ShutdownResult> | undefined;
  const force = () => {
    for (const server of options.servers ?? []) server.forceShutdown();
    if (options.exit !== false) process.exit(1);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (running !== undefined) {
      log(`${signal} again: stopping now`);
      force();
      return;
    }
    log(`${signal}: shutting down gracefully (grace ${graceMs} ms)`);
    void shutdown();
  };
  const shutdown = (): Promise<ShutdownResult> => {
    running ??= run({ ...options, graceMs, readinessDelayMs: delayMs }, log).then(async (result) => {
      log(
        result.clean
          ? `stopped in ${Math.round(result.durationMs)} ms`
          : `stopped, not cleanly: ${result.error?.message ?? "grace period over"}`,
      );
      if (options.exit !== false) {
        process.exit(result.clean ? 0 : 1);
      }
      return result;
    });
    return running;
  };
  for (const signal of signals) process.on(signal, onSignal);
  return {
    shutdown,
    dispose: () => {
      for (const signal of signals) process.off(signal, onSignal);
    },
  };
}

async function run(
  options: GracefulShutdownOptions & { graceMs: number; readinessDelayMs: number },
  log: (line: string) => void,
): Promise<ShutdownResult> {
  const started = performance.now();
  let error: Error | undefined;
  const step = async (what: string, work: () => Promise<unknown> | unknown) => {
    try {
      await work();
    } catch (e) {
      error ??= new Error(`${what} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  };
  options.health?.shutDown();
  if (options.readinessDelayMs > 0) {
    await sleep(options.readinessDelayMs);
  }
  log("draining");
  const servers = options.servers ?? [];
  const stopped = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.tryShutdown(() => resolve()))));
  const { handler } = options;
  const drainStarted = performance.now();
  if (handler !== undefined) {
    await step("drain", () =>
      "drain" in handler ? handler.drain({ graceMs: options.graceMs }) : handler.gracefulStop({ graceMs: options.graceMs }),
    );
  }
  const cutShort = performance.now() - drainStarted >= options.graceMs;
  if (options.cluster !== undefined) {
    await step("leaving the cluster", () => options.cluster!.close());
  }
  const left = Math.max(0, options.graceMs - (performance.now() - started)) + FORCE_MARGIN_MS;
  const timer = new AbortController();
  const inTime = await Promise.race([stopped.then(() => true), sleep(left, false, { signal: timer.signal }).catch(() => false)]);
  timer.abort();
  if (!inTime) {
    for (const server of servers) server.forceShutdown();
  }
  await step("onStopped", () => options.onStopped?.());
  const durationMs = performance.now() - started;
  return { clean: inTime && !cutShort && error === undefined, durationMs, ...(error === undefined ? {} : { error }) };
}

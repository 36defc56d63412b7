import type { IncomingMessage, ServerResponse } from "node:http";
import { contained, pathOf, sendJson } from "./http-reply.js";

/** One reason a process is not ready, as `/readyz` lists it. */
export interface ReadinessCheck {
  /** A short name: "shutting-down", "directory", "tunnel", ... */
  readonly name: string;
  /** True when this check passes. */
  readonly ok: boolean;
  /** What it found, for people. */
  readonly detail: string;
}

/** A `node:http` request listener answering `/healthz` and `/readyz`, with the shutdown switch. */
export interface HealthEndpoints {
  (request: IncomingMessage, response: ServerResponse): void;
  /** The checks now, as `/readyz` reports them. */
  checks(): ReadinessCheck[];
  /** True when every check passes. */
  ready(): boolean;
  /** Readiness fails from now on ("shutting down"): the first step of a graceful shutdown. Liveness is untouched. */
  shutDown(): void;
}

/** Options of the health endpoints. */
export interface HealthOptions {
  /** Where they are mounted, ending in "/"; "/" by default (so `/healthz`, `/readyz`). */
  basePath?: string;
}

/**
 * Health endpoints from a list of readiness checks:
 *
 * - `GET /healthz` — liveness: 200 while the process answers. It never
 *   depends on Redis or agents, so an outage does not make an orchestrator
 *   restart every replica at once.
 * - `GET /readyz` — readiness: 200 when every check passes, else 503; the
 *   body (JSON) lists the checks either way.
 *
 * Other paths answer 404, so the listener can be one route among others.
 */
export function healthEndpoints(checks: () => ReadinessCheck[], options: HealthOptions = {}): HealthEndpoints {
  const base = options.basePath ?? "/";
  if (!base.startsWith("/") || !base.endsWith("/")) {
    throw new RangeError(`health endpoints: basePath must start and end with "/", got ${JSON.stringify(base)}`);
  }
  let shuttingDown = false;
  const all = (): ReadinessCheck[] => [
    { name: "shutting-down", ok: !shuttingDown, detail: shuttingDown ? "shutting down" : "serving" },
    ...checks(),
  ];
  const ready = () => all().every((check) => check.ok);
  const listener = ((request: IncomingMessage, response: ServerResponse) =>
    contained(request, response, () => {
      const path = pathOf(request).pathname;
      if (path !== `${base}healthz` && path !== `${base}readyz`) {
        sendJson(request, response, 404, { error: "not found" });
        return;
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        sendJson(request, response, 405, { error: "method not allowed" }, { Allow: "GET, HEAD" });
        return;
      }
      if (path === `${base}healthz`) {
        sendJson(request, response, 200, { live: true });
        return;
      }
      const current = all();
      const ok = current.every((check) => check.ok);
      sendJson(request, response, ok ? 200 : 503, { ready: ok, checks: current });
    })) as HealthEndpoints;
  listener.checks = all;
  listener.ready = ready;
  listener.shutDown = () => {
    shuttingDown = true;
  };
  return listener;
}

/** What the control server's readiness looks at: a TunnelServiceHandler. */
export interface ControlServerSource {
  /** True once the handler stopped taking new work (initiateShutdown, drain). */
  readonly shuttingDown: boolean;
}

/** What it looks at in cluster mode: the cluster's directory (a TunnelCluster's `directory`). */
export interface DirectorySource {
  /** Since when (ms since the epoch) the shared store has been unreachable; undefined while reachable. */
  readonly unreachableSince?: number | undefined;
}

/** A TunnelCluster, as readiness sees it. */
export interface ClusterSource {
  /** The cluster's directory. */
  readonly directory: DirectorySource;
}

/** Options of `controlServerHealth`. */
export interface ControlServerHealthOptions extends HealthOptions {
  /** In cluster mode: the TunnelCluster (its directory is watched). */
  cluster?: ClusterSource;
  /**
   * How long the cluster directory may be unreachable before readiness
   * fails, in ms; default 10,000. Short outages (a Redis restart) do not
   * take every replica out of its balancer at once: calls to local tunnels
   * go on meanwhile, and the directory catches up by itself.
   */
  directoryGraceMs?: number;
}

const DEFAULT_DIRECTORY_GRACE_MS = 10_000;

/**
 * `/healthz` and `/readyz` for a control server (a TunnelServiceHandler,
 * in cluster mode or not). Not ready while the handler is shutting down (or
 * after `shutDown()`), nor when the cluster directory has been unreachable
 * for longer than `directoryGraceMs`.
 *
 * ```ts
 * const health = controlServerHealth(handler, { cluster });
 * http.createServer(health).listen(8080);
 * ```
 */
export function controlServerHealth(handler: ControlServerSource, options: ControlServerHealthOptions = {}): HealthEndpoints {
  const graceMs = options.directoryGraceMs ?? DEFAULT_DIRECTORY_GRACE_MS;
  if (!(Number.isFinite(graceMs) && graceMs >= 0)) {
    throw new RangeError(`controlServerHealth: directoryGraceMs must be a finite number >= 0 (got ${graceMs})`);
  }
  const directory = options.cluster?.directory;
  return healthEndpoints(() => {
    const checks: ReadinessCheck[] = [
      { name: "handler", ok: !handler.shuttingDown, detail: handler.shuttingDown ? "draining" : "taking tunnels and calls" },
    ];
    if (directory !== undefined) {
      const since = directory.unreachableSince;
      const downMs = since === undefined ? 0 : Math.max(0, Date.now() - since);
      checks.push({
        name: "directory",
        ok: since === undefined || downMs <= graceMs,
        detail: since === undefined ? "reachable" : `unreachable for ${downMs} ms (grace ${graceMs} ms)`,
      });
    }
    return checks;
  }, options);
}

/** What an agent's readiness looks at: a ReverseTunnelServer. */
export interface AgentSource {
  /** Number of reverse tunnels open now. */
  readonly activeTunnels: number;
}

/** Options of `agentHealth`. */
export interface AgentHealthOptions extends HealthOptions {
  /** Tunnels that must be open for the agent to be ready; default 1. */
  minTunnels?: number;
}

/**
 * `/healthz` and `/readyz` for an agent (a ReverseTunnelServer): ready
 * while at least `minTunnels` reverse tunnels are open, i.e. the control
 * plane can reach it.
 */
export function agentHealth(server: AgentSource, options: AgentHealthOptions = {}): HealthEndpoints {
  const min = options.minTunnels ?? 1;
  if (!(Number.isInteger(min) && min >= 1)) {
    throw new RangeError(`agentHealth: minTunnels must be an integer >= 1 (got ${min})`);
  }
  return healthEndpoints(() => {
    const open = server.activeTunnels;
    return [{ name: "tunnel", ok: open >= min, detail: `${open} reverse tunnel(s) open, ${min} needed` }];
  }, options);
}

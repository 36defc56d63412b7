import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { contained, pathOf, sendJson } from "./http-reply.js";
import { TunnelEventStreams } from "./tunnel-events.js";

/** A page of keys, as the admin endpoints read it: `replicaIds[i]` hold `keys[i]`. */
export interface KeyPageView {
  /** The keys of this page. */
  keys: string[];
  /** The replicas holding each key, in the order of `keys`. */
  replicaIds: string[][];
  /** Absent on the last page. */
  cursor?: string;
}

/** A replica holding a key, and where its relay listens. */
export interface ReplicaRoute {
  /** The replica's id. */
  replicaId: string;
  /** Its relay listener's address, host:port. */
  address: string;
}

/** What the admin endpoints list and locate keys with: a TunnelCluster (cluster-wide). */
export interface KeyDirectory {
  /** This replica's id. */
  readonly replicaId: string;
  /** A page of the keys held in the cluster, at most `limit`, those starting with `prefix`, after `cursor`. */
  listKeys(request: { prefix?: string; cursor?: string; limit?: number }): Promise<KeyPageView>;
  /** The replicas holding `key`; empty when none does. */
  locate(key: string): Promise<ReplicaRoute[]>;
}

/** A reverse tunnel, as the admin endpoints report it. */
export interface AdminTunnel {
  /** Its affinity key. */
  readonly key: unknown;
  /** True once it takes no new calls (draining or shed). */
  readonly draining: boolean;
}

/** What the admin endpoints report about this replica: a TunnelServiceHandler. */
export interface AdminHandler {
  /** True once `drain` began. */
  readonly shuttingDown: boolean;
  /** Every reverse tunnel it holds, draining ones too. */
  allReverseTunnels(): AdminTunnel[];
}

/** Options of `fleetAdmin`. */
export interface FleetAdminOptions {
  /** In cluster mode, the TunnelCluster: keys are listed and located cluster-wide. Without it, this handler's keys. */
  cluster?: KeyDirectory;
  /**
   * A bearer token every request must carry (`Authorization: Bearer …`),
   * compared in constant time. `POST /drain` is only served with one.
   * Serve the endpoints on an admin port, with TLS where the network is not trusted.
   */
  token?: string;
  /** What `POST /drain` starts, e.g. a GracefulShutdown's `shutdown`; without it, `drain` answers 404. */
  onDrain?: () => unknown;
}

/** A `node:http` request listener for `tunnelctl`, with `close()`. */
export interface FleetAdmin {
  (request: IncomingMessage, response: ServerResponse): void;
  /** Ends the open event streams. */
  close(): void;
}

const MIN_TOKEN_LENGTH = 16;

/**
 * The admin endpoints `tunnelctl` talks to (JSON; see docs/fleet.md):
 *
 * | route | answer |
 * |---|---|
 * | `GET /replica` | this replica: id, shutting down, its reverse tunnels |
 * | `GET /keys?prefix=&cursor=&limit=` | a page of keys with the replicas holding each (cluster-wide in cluster mode) |
 * | `GET /locate?key=` | the replicas holding a key |
 * | `GET /events` | reverse tunnels opening and closing here, live (Server-Sent Events) |
 * | `POST /drain` | starts `onDrain` (202); needs the token |
 *
 * ```ts
 * http.createServer(fleetAdmin(handler, { cluster, token: process.env.ADMIN_TOKEN, onDrain: () => shutdown.shutdown() }))
 *   .listen(9090);
 * ```
 */
export function fleetAdmin(handler: AdminHandler, options: FleetAdminOptions = {}): FleetAdmin {
  const { token } = options;
  if (token !== undefined && (typeof token !== "string" || token.length < MIN_TOKEN_LENGTH)) {
    throw new TypeError(`fleetAdmin: token must be a string of at least ${MIN_TOKEN_LENGTH} characters`);
  }
  const events = new TunnelEventStreams(options.cluster?.replicaId);
  const listener = ((request: IncomingMessage, response: ServerResponse) =>
    contained(request, response, () => route(request, response, handler, options, events))) as FleetAdmin;
  listener.close = () => events.close();
  return listener;
}

const GET_ROUTES = new Set(["/replica", "/keys", "/locate", "/events"]);

async function route(
  request: IncomingMessage,
  response: ServerResponse,
  handler: AdminHandler,
  options: FleetAdminOptions,
  events: TunnelEventStreams,
): Promise<void> {
  const url = pathOf(request);
  const path = url.pathname;
  const known = GET_ROUTES.has(path) || path === "/drain";
  if (!known) {
    sendJson(request, response, 404, { error: "not found" });
    return;
  }
  if (options.token !== undefined && !authorized(request, options.token)) {
    sendJson(request, response, 401, { error: "a bearer token is required" }, { "WWW-Authenticate": "Bearer" });
    return;
  }
  const method = path === "/drain" ? "POST" : "GET";
  if (request.method !== method && !(method === "GET" && request.method === "HEAD")) {
    sendJson(request, response, 405, { error: "method not allowed" }, { Allow: method });
    return;
  }
  const cluster = options.cluster;
  switch (path) {
    case "/replica":
      sendJson(request, response, 200, replicaView(handler, cluster?.replicaId));
      return;
    case "/keys": {
      const limit = url.searchParams.get("limit");
      const page = await listKeys(handler, cluster, {
        prefix: url.searchParams.get("prefix") ?? undefined,
        cursor: url.searchParams.get("cursor") ?? undefined,
        limit: limit === null ? undefined : Number(limit),
      });
      sendJson(request, response, page.status, page.body);
      return;
    }
    case "/locate": {
      const key = url.searchParams.get("key");
      if (key === null) {
        sendJson(request, response, 400, { error: "locate needs ?key=" });
        return;
      }
      const routes = cluster === undefined ? localRoutes(handler, key) : await cluster.locate(key).catch((e: unknown) => e);
      if (routes instanceof Error) {
        sendJson(request, response, 503, { error: routes.message });
        return;
      }
      sendJson(request, response, 200, { key, replicas: routes });
      return;
    }
    case "/events":
      if (!events.open(response)) {
        sendJson(request, response, 503, { error: "too many event streams" });
      }
      return;
    default: {
      if (options.onDrain === undefined || options.token === undefined) {
        sendJson(request, response, 404, { error: "draining is not enabled here (it needs onDrain and a token)" });
        return;
      }
      const alreadyShuttingDown = handler.shuttingDown;
      void Promise.resolve().then(options.onDrain);
      sendJson(request, response, 202, { draining: true, replicaId: cluster?.replicaId, alreadyShuttingDown });
    }
  }
}

function replicaView(handler: AdminHandler, replicaId: string | undefined) {
  const tunnels = handler.allReverseTunnels();
  return {
    replicaId: replicaId ?? null,
    shuttingDown: handler.shuttingDown,
    reverseTunnels: tunnels.length,
    draining: tunnels.filter((t) => t.draining).length,
    keys: new Set(tunnels.map((t) => t.key)).size,
  };
}

async function listKeys(
  handler: AdminHandler,
  cluster: KeyDirectory | undefined,
  request: { prefix?: string; cursor?: string; limit?: number },
): Promise<{ status: number; body: unknown }> {
  if (request.limit !== undefined && !(Number.isInteger(request.limit) && request.limit >= 1 && request.limit <= 1_000)) {
    return { status: 400, body: { error: "limit must be a whole number from 1 to 1000" } };
  }
  if (cluster === undefined) {
    return { status: 200, body: localPage(handler, request) };
  }
  try {
    const page = await cluster.listKeys(request);
    return { status: 200, body: { keys: page.keys.map((key, i) => ({ key, replicas: page.replicaIds[i] })), cursor: page.cursor ?? null } };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return { status: code === 3 ? 400 : 503, body: { error: (e as Error).message } };
  }
}

/** A page of this handler's own keys, in sorted order; the cursor is the last key of the page. */
function localPage(handler: AdminHandler, request: { prefix?: string; cursor?: string; limit?: number }) {
  const limit = request.limit ?? 100;
  const prefix = request.prefix ?? "";
  const after = request.cursor ?? "";
  const keys = [...new Set(handler.allReverseTunnels().map((t) => String(t.key ?? "")))]
    .filter((key) => key.startsWith(prefix) && key > after)
    .sort();
  const page = keys.slice(0, limit);
  return { keys: page.map((key) => ({ key, replicas: [] })), cursor: keys.length > limit ? page.at(-1) : null };
}

function localRoutes(handler: AdminHandler, key: string) {
  const here = handler.allReverseTunnels().some((t) => String(t.key ?? "") === key && !t.draining);
  return here ? [{ replicaId: "", address: "" }] : [];
}

function authorized(request: IncomingMessage, token: string): boolean {
  const header = request.headers.authorization;
  if (typeof header !== "string" || !header.startsWith("Bearer ")) {
    return false;
  }
  return timingSafeEqual(digest(header.slice("Bearer ".length)), digest(token));
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

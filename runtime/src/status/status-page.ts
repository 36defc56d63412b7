import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { subscribeDiagnostics } from "../diagnostics/channels.js";
import { STATUS_CSS, STATUS_JS } from "./assets.js";
import { EventStreams, type PageUpdate } from "./event-streams.js";
import { describeThrown, OnceWarnings, SafeFormatters, type SnapshotOptions } from "./formatters.js";
import { MAX_CELL_CHARS, renderPage, renderRows } from "./render.js";
import { snapshotSignature, statusSnapshot, type StatusQuery, type StatusSnapshot } from "./snapshot.js";
import { TunnelIndex, type TunnelSource } from "./tunnel-index.js";

export interface StatusPageOptions extends SnapshotOptions {
  /** The page's heading; "Tunnels" by default. */
  title?: string;
  /** Where the listener is mounted, ending in "/"; "/" by default. Other paths answer 404. */
  basePath?: string;
  /** While a page is open, how often its figures (active calls, bytes) are refreshed, in ms; 1000 by default. */
  refreshMs?: number;
  /** Reverse tunnels per page (and forward tunnels shown at most); 100 by default. */
  pageSize?: number;
  /** Live pages (event streams) open at once at most; more are answered 503. 16 by default. */
  maxEventStreams?: number;
  /**
   * A live page whose connection has taken nothing for this long (its
   * last update still unsent) is disconnected, in ms; 30,000 by default.
   * Until then it is sent nothing more, and gets the current state once
   * it reads again.
   */
  stalledStreamTimeoutMs?: number;
}

/** A `node:http` request listener serving the status page, with `close()`. */
export interface TunnelStatusPage {
  (request: IncomingMessage, response: ServerResponse): void;
  /** Ends the open live-update streams and stops watching the tunnels; later requests answer 503. */
  close(): void;
}

/**
 * An admin page of the tunnels `source` holds (a TunnelServiceHandler, a
 * ReverseTunnelServer): reverse tunnels by affinity key, forward tunnels,
 * each with its peer, revision, age, active calls and bytes each way. As a
 * request listener for `node:http`, under `basePath`:
 *
 * - `""` (or `index.html`): the HTML page, live without reloading;
 * - `status.json`: the same as JSON (StatusSnapshot);
 * - `events`: the live updates (Server-Sent Events), pushed when a tunnel
 *   opens or closes and every `refreshMs` while figures change.
 *
 * Each shows one page of `pageSize` reverse tunnels in key order
 * (`?page=N`; `&key=text` keeps the keys containing text) and the counts of
 * all, so a page stays small for any fleet. Live updates follow each
 * connection's back-pressure (a page that does not read is sent nothing
 * more, then the current state once it reads again, and is disconnected
 * after `stalledStreamTimeoutMs`), and come at most once per event-loop
 * turn. The operator's formatters run contained: a throw shows in the
 * tunnel's cell and is logged once (a process warning).
 *
 * It exposes affinity keys and peer addresses; tunnel metadata only through
 * the `metadata` option. It has no authentication of its own: serve it on
 * an admin port or behind one.
 *
 * ```ts
 * http.createServer(tunnelStatusPage(handler)).listen(9090, "127.0.0.1");
 * ```
 */
export function tunnelStatusPage(source: TunnelSource, options: StatusPageOptions = {}): TunnelStatusPage {
  const page = new StatusPage(source, options);
  const listener = ((request: IncomingMessage, response: ServerResponse) => page.handle(request, response)) as TunnelStatusPage;
  listener.close = () => page.close();
  return listener;
}

const COMMON_HEADERS: OutgoingHttpHeaders = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

const PAGE_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** A comment line every this many refreshes keeps idle event streams open through proxies. */
const KEEPALIVE_REFRESHES = 15;
/** A refresh may take this share of the time at most: the next waits nine times as long as the last took. */
const REFRESH_COST_FACTOR = 9;

class StatusPage {
  private readonly basePath: string;
  private readonly title: string;
  private readonly refreshMs: number;
  private readonly pageSize: number;
  private readonly warnings = new OnceWarnings();
  private readonly formatters: SafeFormatters;
  private readonly index: TunnelIndex;
  private readonly streams: EventStreams;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  /** No refresh before this (performance.now()): refreshes of a large fleet take a bounded share of the CPU. */
  private quietUntil = 0;
  private refreshes = 0;
  private closed = false;

  constructor(source: TunnelSource, options: StatusPageOptions) {
    const base = options.basePath ?? "/";
    if (!base.startsWith("/") || !base.endsWith("/")) {
      throw new RangeError(`tunnelStatusPage: basePath must start and end with "/", got ${JSON.stringify(base)}`);
    }
    this.basePath = base;
    this.title = options.title ?? "Tunnels";
    this.refreshMs = positive(options.refreshMs ?? 1000, "refreshMs");
    this.pageSize = whole(options.pageSize ?? 100, "pageSize");
    this.formatters = new SafeFormatters(options, this.warnings);
    this.index = new TunnelIndex(source, this.formatters);
    this.streams = new EventStreams({
      maxStreams: whole(options.maxEventStreams ?? 16, "maxEventStreams"),
      stalledMs: positive(options.stalledStreamTimeoutMs ?? 30_000, "stalledStreamTimeoutMs"),
      onCaughtUp: (stream) => this.contained(() => this.streams.send(stream, this.update(stream.query), false)),
      onEmpty: () => this.stopWatching(),
    });
  }

  handle(request: IncomingMessage, response: ServerResponse): void {
    try {
      this.route(request, response);
    } catch (e) {
      // A status page must never take its server down.
      if (!response.headersSent) {
        send(response, request, 500, "text/plain; charset=utf-8", `status page failed: ${(e as Error)?.message ?? String(e)}\n`);
      } else {
        response.destroy();
      }
    }
  }

  close(): void {
    this.closed = true;
    this.streams.closeAll();
    this.stopWatching();
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? "/", "http://status.invalid");
    const path = url.pathname;
    if (path === this.basePath.slice(0, -1) && path !== "") {
      send(response, request, 301, "text/plain; charset=utf-8", "moved\n", { Location: this.basePath });
      return;
    }
    const route = path.startsWith(this.basePath) ? path.slice(this.basePath.length) : undefined;
    if (route === undefined || !["", "index.html", "status.json", "status.js", "status.css", "events"].includes(route)) {
      send(response, request, 404, "text/plain; charset=utf-8", "not found\n");
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(response, request, 405, "text/plain; charset=utf-8", "method not allowed\n", { Allow: "GET, HEAD" });
      return;
    }
    if (this.closed) {
      send(response, request, 503, "text/plain; charset=utf-8", "status page closed\n");
      return;
    }
    const query = parseQuery(url.searchParams);
    switch (route) {
      case "status.js":
        send(response, request, 200, "text/javascript; charset=utf-8", STATUS_JS);
        return;
      case "status.css":
        send(response, request, 200, "text/css; charset=utf-8", STATUS_CSS);
        return;
      case "status.json":
        send(response, request, 200, "application/json; charset=utf-8", `${JSON.stringify(this.snapshot(query), null, 2)}\n`);
        return;
      case "events":
        this.openStream(request, response, query);
        return;
      default:
        send(
          response,
          request,
          200,
          "text/html; charset=utf-8",
          renderPage(this.snapshot(query), this.title, this.formatters.showsMetadata),
          {
            "Content-Security-Policy": PAGE_POLICY,
          },
        );
    }
  }

  private snapshot(query: StatusQuery): StatusSnapshot {
    const snapshot = statusSnapshot(this.index, this.formatters, query, this.pageSize);
    if (this.streams.size === 0) {
      this.index.forget(); // a one-off request: nothing refreshes the cache, so it would hold closed tunnels
    }
    return snapshot;
  }

  private update(query: StatusQuery): PageUpdate {
    const snapshot = this.snapshot(query);
    return {
      signature: snapshotSignature(snapshot),
      message: `data: ${JSON.stringify(renderRows(snapshot, this.formatters.showsMetadata))}\n\n`,
    };
  }

  private openStream(request: IncomingMessage, response: ServerResponse, query: StatusQuery): void {
    if (this.streams.full) {
      send(response, request, 503, "text/plain; charset=utf-8", "too many live status pages open\n", { "Retry-After": "10" });
      return;
    }
    response.writeHead(200, { ...COMMON_HEADERS, "Content-Type": "text/event-stream; charset=utf-8", "X-Accel-Buffering": "no" });
    if (request.method === "HEAD") {
      response.end();
      return;
    }
    const stream = this.streams.add(response, query);
    this.startWatching();
    this.streams.send(stream, this.update(query), true); // the new page gets the current state at once
  }

  /** While a page is open: tunnels opening or closing push an update; figures are checked every refreshMs. */
  private startWatching(): void {
    if (this.timer !== undefined) {
      return;
    }
    const schedule = () => this.schedule();
    this.unsubscribe = subscribeDiagnostics({ tunnelOpen: schedule, tunnelClose: schedule });
    this.timer = setInterval(() => this.tick(), this.refreshMs);
    this.timer.unref();
  }

  private stopWatching(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.cancelScheduled();
    this.index.forget();
  }

  /**
   * Tunnels opened or closed: one refresh for all the events of a turn, run
   * after the owner has (un)listed the tunnel — later if the last refresh
   * was costly.
   */
  private schedule(): void {
    if (this.scheduled !== undefined) {
      return;
    }
    const run = () => {
      this.scheduled = undefined;
      this.contained(() => this.refresh(false));
    };
    const wait = this.quietUntil - performance.now();
    this.scheduled = wait > 0 ? setTimeout(run, wait) : setImmediate(run);
    this.scheduled.unref();
  }

  private cancelScheduled(): void {
    if (this.scheduled !== undefined) {
      clearTimeout(this.scheduled as NodeJS.Timeout);
      clearImmediate(this.scheduled as NodeJS.Immediate);
      this.scheduled = undefined;
    }
  }

  /** Every refreshMs: figures may have changed; now and then a keep-alive. */
  private tick(): void {
    const keepAlive = ++this.refreshes % KEEPALIVE_REFRESHES === 0;
    if (this.scheduled === undefined && performance.now() >= this.quietUntil) {
      this.contained(() => this.refresh(keepAlive));
    }
  }

  /** Sends every open page its update if it changed; takes note of what it cost. */
  private refresh(keepAlive: boolean): void {
    const started = performance.now();
    this.streams.refresh((query) => this.update(query), keepAlive, started);
    const ended = performance.now();
    this.quietUntil = ended + REFRESH_COST_FACTOR * (ended - started);
  }

  /** Runs what timers and events start: nothing there may throw into the event loop. A failure is logged once until a refresh succeeds. */
  private contained(run: () => void): void {
    try {
      run();
      this.warnings.rearm("refresh");
    } catch (e) {
      this.warnings.warn("refresh", `a refresh failed (logged again only after one succeeded): ${describeThrown(e)}`);
    }
  }
}

/** The page and filter of a request: bad values mean the first page, long filters are cut. */
function parseQuery(params: URLSearchParams): StatusQuery {
  const page = Number.parseInt(params.get("page") ?? "1", 10);
  return { page: Number.isFinite(page) && page >= 1 ? page : 1, filter: (params.get("key") ?? "").slice(0, MAX_CELL_CHARS) };
}

function positive(value: number, name: string): number {
  if (!(value > 0)) {
    throw new RangeError(`tunnelStatusPage: ${name} must be positive, got ${value}`);
  }
  return value;
}

function whole(value: number, name: string): number {
  if (!(Number.isInteger(value) && value >= 1)) {
    throw new RangeError(`tunnelStatusPage: ${name} must be a whole number >= 1, got ${value}`);
  }
  return value;
}

function send(
  response: ServerResponse,
  request: IncomingMessage,
  status: number,
  type: string,
  body: string,
  headers: OutgoingHttpHeaders = {},
): void {
  const bytes = Buffer.from(body, "utf8");
  response.writeHead(status, { ...COMMON_HEADERS, ...headers, "Content-Type": type, "Content-Length": bytes.length });
  response.end(request.method === "HEAD" ? undefined : bytes);
}

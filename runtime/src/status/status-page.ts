import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { subscribeDiagnostics } from "../diagnostics/channels.js";
import { STATUS_CSS, STATUS_JS } from "./assets.js";
import { renderPage, renderRows } from "./render.js";
import { snapshotSignature, statusSnapshot, type SnapshotOptions, type TunnelSource } from "./snapshot.js";

export interface StatusPageOptions extends SnapshotOptions {
  /** The page's heading; "Tunnels" by default. */
  title?: string;
  /** Where the listener is mounted, ending in "/"; "/" by default. Other paths answer 404. */
  basePath?: string;
  /** While a page is open, how often its figures (active calls, bytes) are refreshed, in ms; 1000 by default. */
  refreshMs?: number;
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
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** A comment line every this many refreshes keeps idle event streams open through proxies. */
const KEEPALIVE_REFRESHES = 15;

class StatusPage {
  private readonly basePath: string;
  private readonly title: string;
  private readonly refreshMs: number;
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private scheduled = false;
  private lastSignature = "";
  private refreshes = 0;
  private closed = false;

  constructor(
    private readonly source: TunnelSource,
    private readonly options: StatusPageOptions,
  ) {
    const base = options.basePath ?? "/";
    if (!base.startsWith("/") || !base.endsWith("/")) {
      throw new RangeError(`tunnelStatusPage: basePath must start and end with "/", got ${JSON.stringify(base)}`);
    }
    this.basePath = base;
    this.title = options.title ?? "Tunnels";
    this.refreshMs = options.refreshMs ?? 1000;
    if (!(this.refreshMs > 0)) {
      throw new RangeError(`tunnelStatusPage: refreshMs must be positive, got ${this.refreshMs}`);
    }
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
    for (const client of this.clients) {
      client.end();
    }
    this.clients.clear();
    this.stopWatching();
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? "/", "http://status.invalid").pathname;
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
    switch (route) {
      case "status.js":
        send(response, request, 200, "text/javascript; charset=utf-8", STATUS_JS);
        return;
      case "status.css":
        send(response, request, 200, "text/css; charset=utf-8", STATUS_CSS);
        return;
      case "status.json":
        send(response, request, 200, "application/json; charset=utf-8", `${JSON.stringify(this.snapshot(), null, 2)}\n`);
        return;
      case "events":
        this.openStream(request, response);
        return;
      default:
        send(response, request, 200, "text/html; charset=utf-8", renderPage(this.snapshot(), this.title, this.showsMetadata), {
          "Content-Security-Policy": PAGE_POLICY,
        });
    }
  }

  private get showsMetadata(): boolean {
    return this.options.metadata !== undefined;
  }

  private snapshot() {
    return statusSnapshot(this.source, this.options);
  }

  private openStream(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, { ...COMMON_HEADERS, "Content-Type": "text/event-stream; charset=utf-8", "X-Accel-Buffering": "no" });
    if (request.method === "HEAD") {
      response.end();
      return;
    }
    this.clients.add(response);
    response.on("close", () => {
      this.clients.delete(response);
      if (this.clients.size === 0) {
        this.stopWatching();
      }
    });
    this.startWatching();
    this.refresh(true); // the new page gets the current state at once
  }

  /** While a page is open: tunnels opening or closing push an update; figures are checked every refreshMs. */
  private startWatching(): void {
    if (this.timer !== undefined) {
      return;
    }
    const schedule = () => this.schedule();
    this.unsubscribe = subscribeDiagnostics({ tunnelOpen: schedule, tunnelClose: schedule });
    this.timer = setInterval(() => this.refresh(false), this.refreshMs);
    this.timer.unref();
  }

  private stopWatching(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.lastSignature = "";
  }

  /** Coalesces the events of one turn; runs after the owner has (un)listed the tunnel. */
  private schedule(): void {
    if (this.scheduled) {
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.refresh(false);
    });
  }

  /** Sends the current state to every open page if it changed (or `force`), else now and then a keep-alive. */
  private refresh(force: boolean): void {
    if (this.clients.size === 0) {
      return;
    }
    const snapshot = this.snapshot();
    const signature = snapshotSignature(snapshot);
    let message: string;
    if (force || signature !== this.lastSignature) {
      this.lastSignature = signature;
      this.refreshes = 0;
      message = `data: ${JSON.stringify(renderRows(snapshot, this.showsMetadata))}\n\n`;
    } else if (++this.refreshes % KEEPALIVE_REFRESHES === 0) {
      message = ": keep-alive\n\n";
    } else {
      return;
    }
    for (const client of this.clients) {
      client.write(message);
    }
  }
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

import type { ServerResponse } from "node:http";
import { subscribeDiagnostics } from "../diagnostics/channels.js";
import type { TunnelInfo } from "../diagnostics/events.js";
import { keyText } from "../status/formatters.js";

/** One reverse tunnel opening or closing on a replica, as `/events` streams it. */
export interface TunnelEventRecord {
  /** "open" or "close"; "lost" when a slow reader missed `missed` events. */
  event: "open" | "close" | "lost";
  /** The affinity key, as text. */
  key?: string;
  /** The replica it happened on (undefined outside cluster mode). */
  replicaId?: string;
  /** The agent's network address. */
  peer?: string;
  /** ISO 8601. */
  at: string;
  /** For "close": why it ended ("closed", "peer-closed", "failed"). */
  reason?: string;
  /** For "lost": how many events this reader missed. */
  missed?: number;
}

/** Event streams at most at once; more are refused (503). */
export const MAX_EVENT_STREAMS = 16;

/**
 * The live `/events` streams (Server-Sent Events, one JSON record per
 * event) of reverse tunnels opening and closing in this process. Each
 * stream follows its socket's back-pressure: while a write has not drained,
 * events for that reader are counted, not queued, and it gets one "lost"
 * record when it catches up — a reader that stops reading costs nothing.
 */
export class TunnelEventStreams {
  private readonly readers = new Map<ServerResponse, { missed: number }>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly replicaId: string | undefined) {}

  /** Starts streaming to `response`; false (nothing written) when there are too many readers. */
  open(response: ServerResponse): boolean {
    if (this.readers.size >= MAX_EVENT_STREAMS) {
      return false;
    }
    response.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Accel-Buffering": "no",
    });
    response.write(": tunnel events\n\n");
    const reader = { missed: 0 };
    this.readers.set(response, reader);
    response.on("drain", () => {
      if (reader.missed > 0) {
        const missed = reader.missed;
        reader.missed = 0;
        this.write(response, { event: "lost", at: new Date().toISOString(), missed });
      }
    });
    response.on("close", () => {
      this.readers.delete(response);
      if (this.readers.size === 0) {
        this.unsubscribe?.();
        this.unsubscribe = undefined;
      }
    });
    this.unsubscribe ??= subscribeDiagnostics({
      tunnelOpen: ({ tunnel }) => this.publish(tunnel, "open"),
      tunnelClose: ({ tunnel, reason }) => this.publish(tunnel, "close", reason),
    });
    return true;
  }

  /** Ends every stream. */
  close(): void {
    for (const response of [...this.readers.keys()]) response.end();
  }

  private publish(tunnel: TunnelInfo, event: "open" | "close", reason?: string): void {
    if (tunnel.direction !== "reverse" || tunnel.role !== "client") {
      return; // only the agents' tunnels held here
    }
    const record: TunnelEventRecord = {
      event,
      key: tunnel.affinityKey === undefined ? "" : keyText(tunnel.affinityKey),
      replicaId: this.replicaId,
      peer: tunnel.peer,
      at: new Date().toISOString(),
      ...(reason === undefined ? {} : { reason }),
    };
    for (const [response, reader] of this.readers) {
      if (response.writableNeedDrain) {
        reader.missed++;
      } else {
        this.write(response, record);
      }
    }
  }

  private write(response: ServerResponse, record: TunnelEventRecord): void {
    response.write(`data: ${JSON.stringify(record)}\n\n`); // if it does not drain, the next ones are counted
  }
}

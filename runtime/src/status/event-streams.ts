import type { ServerResponse } from "node:http";
import type { StatusQuery } from "./snapshot.js";

/** What one page is sent: the event, and what it shows leaving out the clock (to skip updates that change nothing). */
export interface PageUpdate {
  signature: string;
  message: string;
}

/** Renders the update of a query; called at most once per query and refresh. */
export type RenderUpdate = (query: StatusQuery) => PageUpdate;

const KEEP_ALIVE = ": keep-alive\n\n";

/**
 * One live page (an event-stream response) and what it was sent. While a
 * write has not drained, nothing more is written to it: it holds at most
 * one update beyond the socket's high-water mark, and gets the state of the
 * moment once it drains.
 */
export class EventStream {
  lastSignature = "";
  /** When the write that has not drained yet was made; undefined while the socket keeps up. */
  blockedSince: number | undefined;
  /** An update came while blocked: send the current state on 'drain'. */
  missed = false;

  constructor(
    readonly response: ServerResponse,
    readonly query: StatusQuery,
  ) {}

  get writable(): boolean {
    return !this.response.writableEnded && !this.response.destroyed;
  }
}

export interface EventStreamsSettings {
  /** Streams open at once at most; more are refused. */
  maxStreams: number;
  /** A stream whose write has not drained for this long is ended. */
  stalledMs: number;
  /** A blocked stream drained after missing updates: send it the current state. */
  onCaughtUp: (stream: EventStream) => void;
  /** The last stream closed. */
  onEmpty: () => void;
}

/** The live pages of a status page, written with back-pressure. */
export class EventStreams {
  private readonly streams = new Set<EventStream>();

  constructor(private readonly settings: EventStreamsSettings) {}

  get size(): number {
    return this.streams.size;
  }

  get full(): boolean {
    return this.streams.size >= this.settings.maxStreams;
  }

  add(response: ServerResponse, query: StatusQuery): EventStream {
    const stream = new EventStream(response, query);
    this.streams.add(stream);
    response.on("error", () => {}); // a reset socket: 'close' follows, and ends the stream here
    response.on("close", () => {
      if (this.streams.delete(stream) && this.streams.size === 0) {
        this.settings.onEmpty();
      }
    });
    return stream;
  }

  /** Sends `update` to `stream` if it shows something new (or `force`) and the stream is not blocked. */
  send(stream: EventStream, update: PageUpdate, force: boolean): void {
    if (!force && update.signature === stream.lastSignature) {
      return;
    }
    stream.lastSignature = update.signature;
    this.write(stream, update.message);
  }

  /**
   * A refresh: each stream gets its page's update if it changed; a blocked
   * stream is marked to catch up on 'drain', or ended once stalled too
   * long; with `keepAlive`, streams that got nothing get a comment line.
   */
  refresh(render: RenderUpdate, keepAlive: boolean, now: number): void {
    const updates = new Map<string, PageUpdate>();
    for (const stream of this.streams) {
      if (!stream.writable) {
        continue;
      }
      if (stream.blockedSince !== undefined) {
        stream.missed = true;
        if (now - stream.blockedSince >= this.settings.stalledMs) {
          stream.response.destroy(); // a page that reads nothing for so long is gone or stuck
        }
        continue;
      }
      const id = `${stream.query.page}\n${stream.query.filter}`;
      let update = updates.get(id);
      if (update === undefined) {
        update = render(stream.query);
        updates.set(id, update);
      }
      if (update.signature !== stream.lastSignature) {
        this.send(stream, update, true);
      } else if (keepAlive) {
        this.write(stream, KEEP_ALIVE);
      }
    }
  }

  closeAll(): void {
    for (const stream of this.streams) {
      stream.response.end();
    }
    this.streams.clear();
  }

  private write(stream: EventStream, message: string): void {
    if (!stream.writable || stream.blockedSince !== undefined) {
      stream.missed = true;
      return;
    }
    if (stream.response.write(message)) {
      return;
    }
    stream.blockedSince = performance.now();
    stream.response.once("drain", () => {
      stream.blockedSince = undefined;
      if (stream.missed && stream.writable) {
        stream.missed = false;
        this.settings.onCaughtUp(stream);
      }
    });
  }
}

import type { InteropEvent } from "./spec.js";

/** Events as they arrive, with waiting for one that matches (past or future). */
export class EventLog {
  readonly events: InteropEvent[] = [];
  private waiters: Array<{ match: (e: InteropEvent) => boolean; resolve: (e: InteropEvent) => void }> = [];

  push(event: InteropEvent): void {
    this.events.push(event);
    const matched = this.waiters.filter((w) => w.match(event));
    this.waiters = this.waiters.filter((w) => !matched.includes(w));
    for (const waiter of matched) waiter.resolve(event);
  }

  /** The first event that matches, now or once it comes; fails after `timeoutMs` naming `what`. */
  waitFor(what: string, match: (e: InteropEvent) => boolean, timeoutMs = 15_000): Promise<InteropEvent> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${what} within ${timeoutMs} ms; events so far: ${JSON.stringify(this.events.slice(-10))}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (e: InteropEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** How the handler of call `id` ended. */
  handlerEnd(id: string): Promise<InteropEvent> {
    return this.waitFor(`end of handler ${id}`, (e) => e.event === "handler-end" && e.call === id);
  }

  /** The highest `sent` count reported for call `id` so far. */
  sent(id: string): number {
    return Math.max(0, ...this.events.filter((e) => e.event === "sent" && e.call === id).map((e) => e.n ?? 0));
  }
}

import type { TunnelInfo } from "../../diagnostics/events.js";
import type { TunnelError } from "../../errors.js";
import { type EndableTunnel, retireAll } from "./graceful-end.js";

/** What a set of live tunnels needs of an engine (either role). */
export interface LiveTunnel extends EndableTunnel {
  readonly activeStreams: number;
  readonly announced: boolean;
  readonly info: TunnelInfo;
}

/**
 * The tunnels a handler, relay listener or reverse tunnel server has open
 * now (negotiating ones too): each leaves the set the moment it ends. What
 * their owner drains, stops or lists.
 */
export class LiveTunnels<T extends LiveTunnel = LiveTunnel> implements Iterable<T> {
  private readonly open = new Set<T>();

  /** Keeps `tunnel` in the set until it ends. */
  add(tunnel: T): void {
    this.open.add(tunnel);
    tunnel.onEnd(() => this.open.delete(tunnel));
  }

  get size(): number {
    return this.open.size;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.open.values();
  }

  /** The live figures of the tunnels announced open and not ended. */
  infos(): TunnelInfo[] {
    const infos: TunnelInfo[] = [];
    for (const tunnel of this.open) {
      if (tunnel.announced && !tunnel.closed) {
        infos.push(tunnel.info);
      }
    }
    return infos;
  }

  /** Each tunnel closes cleanly once its calls finished, or fails with `over` after `graceMs`; resolves when all ended. */
  retire(graceMs: number, over: TunnelError): Promise<void> {
    return retireAll(this.open, graceMs, over);
  }

  /** Each tunnel closes cleanly once its calls finished (no deadline); resolves when all are closed. */
  closeWhenIdle(): Promise<void> {
    return Promise.all([...this.open].map((tunnel) => tunnel.whenIdle().then(() => tunnel.close()))).then(() => undefined);
  }

  /** Ends every tunnel now: idle ones (or all, without `busy`) cleanly, the others failing with `busy`. */
  endAll(busy?: TunnelError): void {
    for (const tunnel of [...this.open]) {
      if (busy === undefined || tunnel.activeStreams === 0) {
        tunnel.close();
      } else {
        tunnel.abort(busy);
      }
    }
  }
}

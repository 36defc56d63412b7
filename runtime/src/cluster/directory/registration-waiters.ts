import { excludedIds, type AffinityRoute, type WaitForOptions } from "./affinity-directory.js";
import type { RedisConnection } from "./redis-connection.js";
import { parseWakeMessage } from "./redis-layout.js";

interface Waiter {
  readonly exclude: ReadonlySet<string>;
  resolve(routes: AffinityRoute[]): void;
  reject(reason: unknown): void;
}

/** The waiters for one key and the channel subscription they share. */
interface KeyWaiters {
  readonly key: string;
  readonly waiters: Set<Waiter>;
  /** Set while subscribing or subscribed; cleared when subscribing failed. */
  subscription: Promise<void> | undefined;
  /** The subscription is confirmed: every registration from now on is announced. */
  active: boolean;
  checking: boolean;
  /** A check must run again: waiters joined during one, or it failed. */
  recheck: boolean;
  readonly listener: (message: string) => void;
}

export interface WaitersSettings {
  subscriber: RedisConnection;
  channel: (key: string) => string;
  lookup: (key: string) => Promise<AffinityRoute[]>;
}

/**
 * waitFor() across the cluster. Each waited-for key has a channel on which
 * the directory announces every new (replica, key) entry; a waiter is woken by
 * such a message, or by a lookup ("check") that runs once the subscription is
 * confirmed, so a registration made just before subscribing is not missed.
 * After any reconnection the checks run again, as messages sent while a
 * connection was down are lost; a check that failed is retried on the next
 * reconnection or refresh tick. There is no polling while things work.
 */
export class RegistrationWaiters {
  private readonly groups = new Map<string, KeyWaiters>();
  private closedWith: unknown;

  constructor(private readonly settings: WaitersSettings) {}

  wait(key: string, options: WaitForOptions = {}): Promise<AffinityRoute[]> {
    const { signal, exclude } = options;
    if (this.closedWith !== undefined) {
      return Promise.reject(this.closedWith);
    }
    if (signal?.aborted) {
      return Promise.reject(signal.reason);
    }
    return new Promise((resolve, reject) => {
      const group = this.groups.get(key) ?? this.createGroup(key);
      const onAbort = () => {
        this.remove(group, waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        exclude: excludedIds(exclude),
        resolve: (routes) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(routes);
        },
        reject: (reason) => {
          signal?.removeEventListener("abort", onAbort);
          reject(reason);
        },
      };
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: a signal aborts once, and a waiter removes its listener as it settles
      signal?.addEventListener("abort", onAbort, { once: true });
      group.waiters.add(waiter);
      if (group.active) {
        this.check(group);
      }
    });
  }

  /** The subscriber (re)connected: subscribe what is not, check everything. */
  onSubscriberReady(): void {
    for (const group of this.groups.values()) {
      if (group.subscription === undefined) {
        this.subscribe(group);
      } else if (group.active) {
        this.check(group);
      }
    }
  }

  /** Runs again the checks that failed (the command connection is back, or a refresh tick). */
  retryFailedChecks(): void {
    for (const group of this.groups.values()) {
      if (group.active && group.recheck && !group.checking) {
        this.check(group);
      }
    }
  }

  /** Rejects every waiter with `reason`; later waits reject at once. */
  close(reason: unknown): void {
    this.closedWith = reason;
    const groups = [...this.groups.values()];
    this.groups.clear();
    for (const group of groups) {
      for (const waiter of group.waiters) {
        waiter.reject(reason);
      }
    }
  }

  private createGroup(key: string): KeyWaiters {
    const group: KeyWaiters = {
      key,
      waiters: new Set(),
      subscription: undefined,
      active: false,
      checking: false,
      // Stryker disable next-line BooleanLiteral: only read for an active group, which becomes active with a check() that clears it
      recheck: false,
      listener: (message) => this.onMessage(group, message),
    };
    this.groups.set(key, group);
    this.subscribe(group);
    return group;
  }

  private subscribe(group: KeyWaiters): void {
    const { subscriber, channel } = this.settings;
    if (!subscriber.ready) {
      return; // onSubscriberReady() subscribes
    }
    const subscription = subscriber.client.subscribe(channel(group.key), group.listener);
    group.subscription = subscription;
    subscription.then(
      () => {
        if (this.groups.get(group.key) !== group) {
          this.unsubscribe(group); // every waiter left while subscribing
          return;
        }
        group.active = true;
        this.check(group);
      },
      () => {
        group.subscription = undefined; // retried when the subscriber is ready again
      },
    );
  }

  private unsubscribe(group: KeyWaiters): void {
    // node-redis drops this listener and unsubscribes once the channel has none;
    // a lost or closed connection unsubscribes too, so failures are moot.
    try {
      this.settings.subscriber.client.unsubscribe(this.settings.channel(group.key), group.listener).catch(() => {});
    } catch {
      // closed already
    }
  }

  private check(group: KeyWaiters): void {
    if (group.checking) {
      group.recheck = true; // waiters joined after this check's lookup may have been sent
      return;
    }
    group.checking = true;
    group.recheck = false;
    this.settings.lookup(group.key).then(
      (routes) => {
        group.checking = false;
        this.wake(group, routes);
        if (group.recheck && group.waiters.size > 0) {
          this.check(group);
        }
      },
      () => {
        group.checking = false;
        group.recheck = true; // retried by retryFailedChecks()
      },
    );
  }

  private onMessage(group: KeyWaiters, message: string): void {
    const route = parseWakeMessage(message);
    if (route !== undefined) {
      this.wake(group, [route]);
    }
  }

  private wake(group: KeyWaiters, routes: AffinityRoute[]): void {
    for (const waiter of [...group.waiters]) {
      const found = routes.filter((route) => !waiter.exclude.has(route.replicaId));
      if (found.length > 0) {
        this.remove(group, waiter);
        waiter.resolve(found);
      }
    }
  }

  private remove(group: KeyWaiters, waiter: Waiter): void {
    group.waiters.delete(waiter);
    if (group.waiters.size > 0 || this.groups.get(group.key) !== group) {
      return;
    }
    this.groups.delete(group.key);
    if (group.active) {
      this.unsubscribe(group);
    }
  }
}

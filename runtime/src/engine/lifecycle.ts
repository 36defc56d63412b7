import type { TunnelError } from "../errors.js";

/**
 * What both engines share about the end of a tunnel: it happens once, with
 * an optional error, and can be awaited or listened for synchronously.
 */
export abstract class TunnelLifecycle {
  private endedWith: { error: TunnelError | undefined } | undefined;
  private resolveDone!: () => void;
  private listeners: Array<(error: TunnelError | undefined) => void> = [];
  /** Resolves when the tunnel has ended. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  /** True once the tunnel has ended. */
  get closed(): boolean {
    return this.endedWith !== undefined;
  }

  /** Why the tunnel ended; undefined while open or after a clean end. */
  get error(): TunnelError | undefined {
    return this.endedWith?.error;
  }

  /**
   * Calls `listener` synchronously when the tunnel ends (at once if it has),
   * so registries can drop a tunnel before any later call can pick it.
   */
  onEnd(listener: (error: TunnelError | undefined) => void): void {
    if (this.endedWith !== undefined) {
      listener(this.endedWith.error);
    } else {
      this.listeners.push(listener);
    }
  }

  /** Records the end; false if the tunnel had already ended. */
  protected markEnded(error: TunnelError | undefined): boolean {
    if (this.endedWith !== undefined) {
      return false;
    }
    this.endedWith = { error };
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) {
      listener(error);
    }
    this.resolveDone();
    return true;
  }
}

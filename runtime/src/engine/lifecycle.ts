import type { TunnelError } from "../errors.js";

/** The end of a tunnel: once, with an optional error, observable as a promise. */
export class TunnelLifecycle {
  private endedWith: { error: TunnelError | undefined } | undefined;
  private resolveDone!: () => void;
  private listeners: Array<(error: TunnelError | undefined) => void> = [];
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  get ended(): boolean {
    return this.endedWith !== undefined;
  }

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
  end(error: TunnelError | undefined): boolean {
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

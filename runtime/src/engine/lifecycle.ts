import type { TunnelError } from "../errors.js";

/** The end of a tunnel: once, with an optional error, observable as a promise. */
export class TunnelLifecycle {
  private endedWith: { error: TunnelError | undefined } | undefined;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  get ended(): boolean {
    return this.endedWith !== undefined;
  }

  get error(): TunnelError | undefined {
    return this.endedWith?.error;
  }

  /** Records the end; false if the tunnel had already ended. */
  end(error: TunnelError | undefined): boolean {
    if (this.endedWith !== undefined) {
      return false;
    }
    this.endedWith = { error };
    this.resolveDone();
    return true;
  }
}

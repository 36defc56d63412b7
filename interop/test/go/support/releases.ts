/** Calls the test released, in either order of release and wait (as control.Releases in Go). */
export class Releases {
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();

  private gate(id: string) {
    let gate = this.gates.get(id);
    if (gate === undefined) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
      this.gates.set(id, gate);
    }
    return gate;
  }

  release(id: string): void {
    this.gate(id).open();
  }

  /** Resolves once `id` is released; rejects with the signal's reason if it aborts first. */
  wait(id: string, signal?: AbortSignal): Promise<void> {
    const released = this.gate(id).promise;
    if (signal === undefined) return released;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      void released.then(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }
}

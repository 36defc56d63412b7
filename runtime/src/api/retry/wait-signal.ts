import { Code } from "../../code.js";
import { untilAborted } from "../../deferred.js";
import { TunnelError } from "../../errors.js";
import { deadlineTimer } from "../../protocol/timeout.js";

/**
 * What a call that waits for somewhere to go (a tunnel, a route) stops
 * waiting on: its own cancel, the caller's signal, its deadline. Made by
 * the call the first time it has to wait; `dispose` when it has ended.
 */
export class CallWaits {
  private readonly controller = new AbortController();
  private readonly release: () => void;

  constructor(caller: AbortSignal | undefined, deadline: number | undefined) {
    const controller = this.controller;
    const onCallerAbort = () => controller.abort(TunnelError.from(caller?.reason, Code.CANCELLED));
    if (caller?.aborted) {
      onCallerAbort();
    } else {
      caller?.addEventListener("abort", onCallerAbort, { once: true });
    }
    const timer = deadline === undefined ? undefined : deadlineTimer(deadline, (error) => controller.abort(error));
    this.release = () => {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onCallerAbort);
    };
  }

  /** Aborts with the reason the call stopped waiting (CANCELLED, DEADLINE_EXCEEDED, or the cancel's reason). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** `promise`, or the reason the call stopped waiting. */
  until<T>(promise: Promise<T>): Promise<T> {
    return untilAborted(promise, this.controller.signal);
  }

  /** The call was cancelled while waiting. */
  cancel(reason: TunnelError): void {
    this.controller.abort(reason);
  }

  /** The call ended: no timer or listener is left behind. */
  dispose(): void {
    this.release();
  }
}

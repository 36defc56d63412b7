import type { CallChannel, CallOptions, CallStream } from "../client/index.js";
import { PolicyCall } from "./policy-call.js";
import { DEFAULT_REPLAY_BUFFER, ReplayBudget } from "./replay-budget.js";
import type { ResolvedPolicy } from "./retry-policy.js";

/**
 * A channel that can name the tunnels it would use now (a round-robin
 * reverse channel): what hedging needs to put each attempt on a tunnel of
 * its own.
 */
export interface TunnelCandidates {
  /** The usable tunnels this channel picks from now. */
  candidates(): readonly CallChannel[];
}

/** The requests kept for retries under a policy, for all clients of the process together. */
const policyReplay = new ReplayBudget(DEFAULT_REPLAY_BUFFER);

/**
 * Calls of one client's methods that may be repeated, under its retry or
 * hedging policy: each call a PolicyCall whose attempts start on `inner`
 * (retries: round-robin moves a retry to the next tunnel of the key, if
 * there are several), or for a hedge on a tunnel of `inner` that carries
 * no attempt of the call yet.
 */
export class PolicyChannel implements CallChannel {
  constructor(
    private readonly inner: CallChannel,
    private readonly policy: ResolvedPolicy,
  ) {}

  startCall(method: string, options: CallOptions = {}): CallStream {
    const { inner, policy } = this;
    let first = true;
    return new PolicyCall({
      method,
      options,
      policy,
      budget: policyReplay,
      start: (attemptOptions, busy) => {
        if (first || !policy.hedging) {
          first = false;
          return inner.startCall(method, attemptOptions);
        }
        const free = hasCandidates(inner) ? inner.candidates().find((tunnel) => !busy.has(tunnel)) : undefined;
        return free?.startCall(method, { ...attemptOptions, waitForReady: false });
      },
    });
  }
}

function hasCandidates(channel: CallChannel): channel is CallChannel & TunnelCandidates {
  return typeof (channel as Partial<TunnelCandidates>).candidates === "function";
}

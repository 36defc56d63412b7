import { Code } from "../../code.js";
import { deferred, type Deferred } from "../../deferred.js";
import { TunnelError } from "../../errors.js";
import type { CallChannel, TunnelClientOptions } from "../client/index.js";
import { clientChannel, mergeCallOptions } from "../client/index.js";
import type { AgentKeySource } from "./agent-keys.js";

/** Which agents a fan-out calls: these keys, every agent, or those whose (string) key has a prefix. */
export type AgentSelection<K> =
  | {
      /** These keys, in this order (an async iterable is read as the fan-out goes). */
      readonly keys: Iterable<K> | AsyncIterable<K>;
    }
  | {
      /** Every agent the handler can reach. */
      readonly all: true;
    }
  | {
      /** The agents whose key starts with it. */
      readonly prefix: string;
    };

/** Options of `forEachAgent`. */
export interface ForEachAgentOptions {
  /** Agents called at once, at most (default 32). Results not yet consumed count too. */
  concurrency?: number;
  /** Aborting it stops the fan-out: calls in flight are cancelled and the iteration throws CANCELLED. */
  signal?: AbortSignal;
  /**
   * Time for each agent, in ms: its calls get it as their deadline (unless
   * `client.defaultCallOptions` sets a time limit of its own), its signal
   * aborts then, and an agent still busy then is reported as DEADLINE_EXCEEDED.
   */
  timeoutMs?: number;
  /** The client options of each agent's channel (interceptors, defaults, retries). */
  client?: TunnelClientOptions;
}

/** What one agent answered: `result`, or the `error` it failed with. */
export type AgentResult<K, R> =
  | {
      /** The agent's key. */
      readonly key: K;
      /** True: it answered. */
      readonly ok: true;
      /** What `fn` returned for it. */
      readonly result: R;
    }
  | {
      /** The agent's key. */
      readonly key: K;
      /** False: it failed. */
      readonly ok: false;
      /** Why (a thrown non-TunnelError becomes UNKNOWN). */
      readonly error: TunnelError;
    };

/** What fan-out needs of a handler: a channel per key, and the keys. A TunnelServiceHandler is one. */
export interface FanOutHandler<K> extends AgentKeySource<K> {
  /** A channel to the agent(s) with affinity key `key`. */
  keyAsChannel(key: K): CallChannel;
}

const DEFAULT_CONCURRENCY = 32;

/**
 * Calls `fn` for every selected agent, at most `concurrency` at once, and
 * yields each agent's result or error as it comes (in completion order).
 * Memory stays bounded whatever the fleet size: keys are read from their
 * source only as slots free up, and a finished result holds its slot until
 * it has been consumed. Leaving the iteration early cancels what is in flight.
 *
 * ```ts
 * for await (const r of forEachAgent(handler, { prefix: "camera-" }, (channel) =>
 *   createTunnelClient(AgentService, channel).getStatus({}), { concurrency: 50, timeoutMs: 2_000 })) {
 *   console.log(r.key, r.ok ? r.result.firmware : r.error.message);
 * }
 * ```
 */
export async function* forEachAgent<K, R>(
  handler: FanOutHandler<K>,
  selection: AgentSelection<K>,
  fn: (channel: CallChannel, key: K, signal: AbortSignal) => Promise<R>,
  options: ForEachAgentOptions = {},
): AsyncGenerator<AgentResult<K, R>> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new RangeError(`concurrency must be an integer >= 1 (got ${concurrency})`);
  }
  const { timeoutMs } = options;
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new RangeError(`timeoutMs must be a number > 0 (got ${timeoutMs})`);
  }
  const stop = new AbortController();
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
  const keys = keysOf(handler, selection)[Symbol.asyncIterator]();
  const finished: AgentResult<K, R>[] = [];
  let running = 0;
  let fetching = false;
  let exhausted = false;
  let failure: unknown;
  let wake: Deferred<void> = deferred();
  const notify = () => {
    const waking = wake;
    wake = deferred();
    waking.resolve();
  };
  signal.addEventListener("abort", notify, { once: true });

  const runAgent = (key: K) => {
    running++;
    void callAgent(handler, key, fn, signal, timeoutMs, options.client).then((result) => {
      running--;
      finished.push(result);
      notify();
    });
  };
  // Takes the next key when a slot is free (finished results count: memory stays bounded).
  const fill = () => {
    if (fetching || exhausted || failure !== undefined || signal.aborted || running + finished.length >= concurrency) {
      return;
    }
    fetching = true;
    keys.next().then(
      (next) => {
        fetching = false;
        if (next.done) {
          exhausted = true;
        } else {
          runAgent(next.value);
          fill();
        }
        notify();
      },
      (e: unknown) => {
        fetching = false;
        failure = e;
        notify();
      },
    );
  };

  try {
    for (;;) {
      fill();
      const result = finished.shift();
      if (result !== undefined) {
        yield result;
        continue;
      }
      if (signal.aborted) {
        throw TunnelError.from(signal.reason, Code.CANCELLED);
      }
      if (failure !== undefined) {
        throw TunnelError.from(failure, Code.UNAVAILABLE);
      }
      if (exhausted && running === 0 && !fetching) {
        return;
      }
      await wake.promise;
    }
  } finally {
    signal.removeEventListener("abort", notify);
    stop.abort(new TunnelError(Code.CANCELLED, "fan-out stopped"));
    void keys.return?.();
  }
}

/** The keys a selection names, as a stream. */
function keysOf<K>(handler: FanOutHandler<K>, selection: AgentSelection<K>): AsyncIterable<K> {
  if ("keys" in selection) {
    return toAsync(selection.keys);
  }
  return handler.agentKeys("prefix" in selection ? { prefix: selection.prefix } : {});
}

async function* toAsync<K>(keys: Iterable<K> | AsyncIterable<K>): AsyncGenerator<K> {
  yield* keys;
}

/** Runs `fn` for one agent within its time; never rejects. */
async function callAgent<K, R>(
  handler: FanOutHandler<K>,
  key: K,
  fn: (channel: CallChannel, key: K, signal: AbortSignal) => Promise<R>,
  fanOut: AbortSignal,
  timeoutMs: number | undefined,
  client: TunnelClientOptions | undefined,
): Promise<AgentResult<K, R>> {
  // One controller per agent, aborted by the fan-out's signal while the agent runs.
  const own = new AbortController();
  const { signal } = own;
  const onStop = () => own.abort(fanOut.reason);
  if (fanOut.aborted) {
    onStop();
  } else {
    fanOut.addEventListener("abort", onStop, { once: true });
  }
  const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => own.abort(new TunnelError(Code.DEADLINE_EXCEEDED, `agent did not finish within ${timeoutMs} ms`)), timeoutMs);
  try {
    const channel = clientChannel(handler.keyAsChannel(key), {
      ...client,
      defaultCallOptions: mergeCallOptions({ signal, deadline }, client?.defaultCallOptions),
    });
    const result = await Promise.race([fn(channel, key, signal), abortedOf(signal)]);
    return { key, ok: true, result: result as R };
  } catch (e) {
    return { key, ok: false, error: signal.aborted ? TunnelError.from(signal.reason, Code.CANCELLED) : TunnelError.from(e) };
  } finally {
    clearTimeout(timer);
    fanOut.removeEventListener("abort", onStop);
  }
}

/** Never resolves; rejects with the reason once `signal` aborts. */
function abortedOf(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

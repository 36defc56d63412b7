/**
 * Store agents for the retry and hedging tests: in-process agents
 * (@protoc-gen-tunnel/runtime/testing) serving StoreService, keyed by their
 * `device-id`, and handlers that fail a given number of times.
 */
import { Code, TunnelError, TunnelServiceHandler, type ServiceImpl, type TunnelClientOptions } from "../../src/index.js";
import { startTestAgent } from "../../src/testing.js";
import type { Cleanup } from "./servers.js";
import { StoreService, type Item } from "./store-service.js";

/** Retries with almost no backoff, for tests. */
export const FAST_RETRY: Exclude<TunnelClientOptions["retry"], boolean | undefined> = {
  maxAttempts: 3,
  initialBackoffMs: 1,
  maxBackoffMs: 5,
};

export type Store = Partial<ServiceImpl<typeof StoreService>>;

/** A handler keying reverse tunnels by their `device-id` metadata. */
export function newHandler(): TunnelServiceHandler<string> {
  return new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("device-id")[0] ?? "") });
}

/** Connects an in-process agent serving `impl` for `key`; stopped by `cleanup`. */
export async function storeAgent(cleanup: Cleanup, handler: TunnelServiceHandler<string>, key: string, impl: Store): Promise<void> {
  const started = await startTestAgent(handler, {
    metadata: { "device-id": key },
    register: (server) => server.registerService(StoreService, impl),
  });
  cleanup.add(() => started.stop());
}

/** A unary handler that fails with `code` the first `failures` times, then answers; counts its calls. */
export function flaky(failures: number, code = Code.UNAVAILABLE) {
  const handler = (request: Item) => {
    handler.calls++;
    if (handler.calls <= failures) {
      throw new TunnelError(code, `failure ${handler.calls}`);
    }
    return { key: request.key, value: `answer after ${handler.calls}` };
  };
  handler.calls = 0;
  return handler;
}

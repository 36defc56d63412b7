import type { CallChannel } from "../client/index.js";
import type { CallOptions } from "../client/index.js";
import type { CallStream } from "../client/index.js";
import type { Interceptor } from "./interceptors.js";

/**
 * A channel whose typed calls go through interceptors. Only the typed calls
 * (generated clients, `createTunnelClient`, `unaryCall` & co.) look for
 * them; `startCall` itself works in bytes and passes straight through, so
 * the grpc-js and Connect adapters keep their own interceptor mechanisms.
 */
export class InterceptedChannel implements CallChannel {
  constructor(
    readonly inner: CallChannel,
    readonly interceptors: readonly Interceptor[],
  ) {}

  startCall(method: string, options?: CallOptions): CallStream {
    return this.inner.startCall(method, options);
  }
}

/**
 * `channel` with interceptors for its typed calls: hand the result to a
 * generated client or `createTunnelClient` and every call goes through them,
 * the first in the list outermost (as in connect-es).
 *
 * ```ts
 * const foo = new FooServiceTunnelClient(withInterceptors(tunnel, authToken(token), logging));
 * ```
 *
 * Wrapping again adds the new interceptors outside the existing ones.
 */
export function withInterceptors(channel: CallChannel, ...interceptors: Interceptor[]): CallChannel {
  if (channel instanceof InterceptedChannel) {
    return new InterceptedChannel(channel.inner, [...interceptors, ...channel.interceptors]);
  }
  return new InterceptedChannel(channel, interceptors);
}

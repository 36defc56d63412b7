import type { DescMethod } from "@bufbuild/protobuf";
import { InterceptedChannel, withInterceptors, type Interceptor } from "../interceptors/index.js";
import { mayRepeat, PolicyChannel, resolvePolicy, type ResolvedPolicy } from "../retry/index.js";
import type { CallChannel } from "./call-channel.js";
import type { CallOptions } from "./call-options.js";
import type { CallStream } from "./call-stream.js";
import { mergeCallOptions, type TunnelClientOptions } from "./client-options.js";

/**
 * A channel with a client's options (TunnelClientOptions): its typed calls
 * get the default call options, go through the interceptors, and, for
 * methods the proto says may be repeated, through the retry or hedging
 * policy (below the interceptors, which see one call). `startCall` itself,
 * in bytes, only gets the default call options.
 */
export class ConfiguredChannel implements CallChannel {
  /** Typed calls of methods that may not be repeated. */
  private readonly plain: CallChannel;
  /** Typed calls of methods that may be repeated. */
  private readonly repeatable: CallChannel;

  constructor(
    readonly inner: CallChannel,
    readonly defaults: CallOptions | undefined,
    readonly interceptors: readonly Interceptor[],
    readonly policy: ResolvedPolicy | undefined,
  ) {
    const intercepted = (channel: CallChannel) => (interceptors.length === 0 ? channel : withInterceptors(channel, ...interceptors));
    this.plain = intercepted(inner);
    this.repeatable = policy === undefined ? this.plain : intercepted(new PolicyChannel(inner, policy));
  }

  startCall(method: string, options?: CallOptions): CallStream {
    return this.inner.startCall(method, mergeCallOptions(this.defaults, options));
  }

  /** Where a typed call of `method` goes, with which options. */
  route(method: DescMethod, options: CallOptions | undefined): { channel: CallChannel; options: CallOptions } {
    return { channel: mayRepeat(method) ? this.repeatable : this.plain, options: mergeCallOptions(this.defaults, options) };
  }
}

/**
 * `channel` with a client's options; `channel` itself when there are none.
 * Options given on top of a channel that has some add to them: defaults
 * merge (the new ones win), the new interceptors go outside, a new policy
 * replaces the old.
 */
export function clientChannel(channel: CallChannel, options: TunnelClientOptions | undefined): CallChannel {
  if (options === undefined) {
    return channel;
  }
  const interceptors = options.interceptors ?? [];
  const policy = resolvePolicy(options.retry, options.hedging);
  if (interceptors.length === 0 && options.defaultCallOptions === undefined && policy === undefined) {
    return channel;
  }
  if (channel instanceof ConfiguredChannel) {
    return new ConfiguredChannel(
      channel.inner,
      channel.defaults === undefined ? options.defaultCallOptions : mergeCallOptions(channel.defaults, options.defaultCallOptions),
      [...interceptors, ...channel.interceptors],
      policy ?? channel.policy,
    );
  }
  if (channel instanceof InterceptedChannel) {
    // Its interceptors join the client's, above the policy (which sits on the bare channel).
    return new ConfiguredChannel(channel.inner, options.defaultCallOptions, [...interceptors, ...channel.interceptors], policy);
  }
  return new ConfiguredChannel(channel, options.defaultCallOptions, interceptors, policy);
}

import type {
  DescMessage,
  DescMethodBiDiStreaming,
  DescMethodClientStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import type { CallChannel } from "./call-channel.js";
import type { CallOptions } from "./call-options.js";
import { interceptedUnary, runInterceptedCall } from "../interceptors/index.js";
import { InterceptedChannel } from "../interceptors/index.js";
import { ConfiguredChannel } from "./configured-channel.js";
import { runTypedCall, runUnaryCall, single, type TypedCall } from "./typed-call-runner.js";

// The four kinds of typed call, written once on CallChannel.startCall. Each
// becomes a TypedCall and goes through `run`: `runTypedCall`, or the same
// inside the interceptors of a channel made by `withInterceptors`; unary
// calls, the common case, take `runUnaryCall`, without generators. A channel
// with a client's options (ConfiguredChannel) first says where the call goes.

/** Makes a unary call: one request, one response. */
export function unaryCall<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  options: CallOptions = {},
): Promise<MessageShape<O>> {
  if (channel instanceof ConfiguredChannel) {
    ({ channel, options } = channel.route(method, options));
  }
  return channel instanceof InterceptedChannel
    ? interceptedUnary(channel, { channel, method, options, input: { one: request }, responses: "one" })
    : runUnaryCall(channel, method, request, options);
}

/** Makes a server-streaming call: one request, responses as they arrive. Stopping early cancels the call. */
export function serverStreamCall<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  method: DescMethodServerStreaming<I, O>,
  request: MessageInitShape<I>,
  options: CallOptions = {},
): AsyncIterable<MessageShape<O>> {
  return run({ channel, method, options, input: { one: request }, responses: "many" });
}

/** Makes a client-streaming call: requests from an async iterable, one response. */
export async function clientStreamCall<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  method: DescMethodClientStreaming<I, O>,
  requests: AsyncIterable<MessageInitShape<I>>,
  options: CallOptions = {},
): Promise<MessageShape<O>> {
  return single(run({ channel, method, options, input: { many: requests }, responses: "one" }));
}

/** Makes a bidi-streaming call: requests from an async iterable, responses as they arrive. */
export function bidiStreamCall<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  method: DescMethodBiDiStreaming<I, O>,
  requests: AsyncIterable<MessageInitShape<I>>,
  options: CallOptions = {},
): AsyncIterable<MessageShape<O>> {
  return run({ channel, method, options, input: { many: requests }, responses: "many" });
}

function run<I extends DescMessage, O extends DescMessage>(call: TypedCall<I, O>): AsyncGenerator<MessageShape<O>> {
  if (call.channel instanceof ConfiguredChannel) {
    call = { ...call, ...call.channel.route(call.method, call.options) };
  }
  return call.channel instanceof InterceptedChannel ? runInterceptedCall(call.channel, call) : runTypedCall(call);
}

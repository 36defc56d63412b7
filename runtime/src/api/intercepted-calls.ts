import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { deferred } from "../deferred.js";
import { TunnelError } from "../errors.js";
import { toMetadata } from "../metadata.js";
import type { CallChannel } from "./call-channel.js";
import { callDeadline, type CallOptions } from "./call-options.js";
import { toMessage } from "./codec.js";
import { messagesOf, once } from "./message-streams.js";
import type { InterceptedChannel } from "./intercepted-channel.js";
import { applyInterceptors, type CallFn, type CallRequest, type CallResponse } from "./interceptors.js";
import { runTypedCall, single, type TypedCall } from "./typed-call-runner.js";

/**
 * A typed call on an InterceptedChannel: builds the request interceptors
 * see, runs them around the call itself (`lastStep`), and yields the
 * response messages they return. Errors, including an interceptor's own,
 * reach the caller as TunnelErrors.
 */
export async function* runInterceptedCall<I extends DescMessage, O extends DescMessage>(
  channel: InterceptedChannel,
  call: TypedCall<I, O>,
): AsyncGenerator<MessageShape<O>> {
  const { method, options } = call;
  const unary = method.methodKind === "unary";
  let response: CallResponse;
  try {
    const request = requestOf(call);
    response = await applyInterceptors(channel.interceptors, lastStep(channel.inner, options))(request as CallRequest);
  } catch (e) {
    throw TunnelError.from(e);
  }
  if (response.stream === unary) {
    throw new TunnelError(Code.INTERNAL, `an interceptor answered ${method.name} with a ${response.stream ? "stream" : "unary"} response`);
  }
  if (!response.stream) {
    yield response.message as MessageShape<O>;
    return;
  }
  try {
    if (call.responses === "many") {
      yield* response.message as AsyncIterable<MessageShape<O>>;
      return;
    }
    // Client streaming: read the response stream to its end (interceptors may
    // be waiting for it, e.g. to see the trailers), then return its one message.
    const [message, ...extra] = await collect(response.message);
    if (message === undefined || extra.length > 0) {
      throw new TunnelError(Code.INTERNAL, `${message === undefined ? "no" : "more than one"} response for ${method.name}`);
    }
    yield message as MessageShape<O>;
  } catch (e) {
    throw TunnelError.from(e);
  }
}

async function collect<T>(messages: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const message of messages) {
    all.push(message);
  }
  return all;
}

function requestOf<I extends DescMessage, O extends DescMessage>(call: TypedCall<I, O>): CallRequest<I, O> {
  const { method, options, input } = call;
  const base = {
    method,
    service: method.parent,
    header: toMetadata(options.metadata),
    signal: options.signal ?? new AbortController().signal,
    deadline: callDeadline(options),
  };
  if (!("one" in input)) {
    return { ...base, stream: true, message: messagesOf(method.input, input.many) };
  }
  const message = toMessage(method.input, input.one);
  return method.methodKind === "unary" ? { ...base, stream: false, message } : { ...base, stream: true, message: once(message) };
}

/**
 * The innermost step: the call itself, on the channel's own channel, with
 * what the interceptors made of the request. A streaming call returns once
 * its response headers arrived (or it failed before any).
 */
function lastStep(channel: CallChannel, options: CallOptions): CallFn {
  return async (request) => {
    const { method, service } = request;
    const kind = method.methodKind;
    let header: Metadata | undefined;
    const headerArrived = deferred<void>();
    const trailer = new Metadata();
    const callOptions: CallOptions = {
      ...options,
      metadata: request.header,
      signal: request.signal,
      timeoutMs: undefined,
      deadline: request.deadline,
      onHeader: (received) => {
        header = received;
        headerArrived.resolve();
        options.onHeader?.(received);
      },
      onTrailer: (received) => {
        trailer.merge(received);
        options.onTrailer?.(received);
      },
    };
    type Input = MessageInitShape<DescMessage>;
    const input: TypedCall<DescMessage, DescMessage>["input"] = !request.stream
      ? { one: request.message as Input }
      : kind === "server_streaming"
        ? { one: await firstRequest(request.message) }
        : { many: request.message };
    const responses = runTypedCall({
      channel,
      method,
      options: callOptions,
      input,
      responses: kind === "unary" || kind === "client_streaming" ? "one" : "many",
    });
    if (!request.stream) {
      const message = await single(responses);
      return { stream: false, method, service, header: header ?? new Metadata(), message, trailer };
    }
    const first = responses.next(); // starts the call
    await Promise.race([headerArrived.promise, first]);
    return { stream: true, method, service, header: header ?? new Metadata(), trailer, message: resume(first, responses) };
  };
}

/** The responses of a started call: the first one (already asked for), then the rest. */
async function* resume<T>(first: Promise<IteratorResult<T>>, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    const result = await first;
    if (result.done) {
      return;
    }
    yield result.value;
    yield* rest;
  } finally {
    await rest.return(undefined); // leaving early cancels the call
  }
}

/** The one request of a server-streaming call, from the request stream interceptors passed on. */
async function firstRequest(messages: AsyncIterable<MessageInitShape<DescMessage>>): Promise<MessageInitShape<DescMessage>> {
  for await (const message of messages) {
    return message; // leaving the loop closes the iterator
  }
  throw new TunnelError(Code.INTERNAL, "no request message for a server-streaming call");
}

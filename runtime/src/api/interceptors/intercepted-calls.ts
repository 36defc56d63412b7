import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../../code.js";
import { deferred } from "../../deferred.js";
import { TunnelError } from "../../errors.js";
import { toMetadata } from "../../metadata.js";
import type { CallChannel } from "../client/index.js";
import { callDeadline, type CallOptions } from "../client/index.js";
import { toMessage } from "../client/index.js";
import { messagesOf, once } from "../client/index.js";
import type { InterceptedChannel } from "./intercepted-channel.js";
import { applyInterceptors, type AnyRequest, type AnyResponse, type InterceptorFn } from "./interceptors.js";
import { defineSharedGetter } from "./shared-getter.js";
import { runTypedCall, runUnaryCall, type TypedCall } from "../client/index.js";

/**
 * A typed call on an InterceptedChannel: builds the request interceptors
 * see, runs them around the call itself (`lastStep`) and checks what they
 * answered. Errors, including an interceptor's own, reach the caller as
 * TunnelErrors. Not an async function: one promise per step of a call
 * (every promise costs more while AsyncLocalStorage is active).
 */
function intercept<I extends DescMessage, O extends DescMessage, R>(
  channel: InterceptedChannel,
  call: TypedCall<I, O>,
  pick: (response: AnyResponse) => R,
): Promise<R> {
  let running: Promise<AnyResponse>;
  try {
    const { request, signalFor } = requestOf(call);
    running = applyInterceptors(channel.interceptors, lastStep(channel.inner, call.options, signalFor))(request);
  } catch (e) {
    return Promise.reject(TunnelError.from(e));
  }
  return running.then(
    (response) => pick(checked(call, response)),
    (e: unknown) => {
      throw TunnelError.from(e);
    },
  );
}

/** What the interceptors answered, if it is of the call's kind. */
function checked<I extends DescMessage, O extends DescMessage>(call: TypedCall<I, O>, response: AnyResponse): AnyResponse {
  if (response.stream === (call.method.methodKind === "unary")) {
    throw new TunnelError(
      Code.INTERNAL,
      `an interceptor answered ${call.method.name} with a ${response.stream ? "stream" : "unary"} response`,
    );
  }
  return response;
}

/** A unary call on an InterceptedChannel: no generators on this path, it is the common one. */
export function interceptedUnary<I extends DescMessage, O extends DescMessage>(
  channel: InterceptedChannel,
  call: TypedCall<I, O>,
): Promise<MessageShape<O>> {
  return intercept(channel, call, messageOf) as Promise<MessageShape<O>>;
}

const messageOf = (response: AnyResponse) => response.message;
const itself = (response: AnyResponse) => response;

/** A streaming call on an InterceptedChannel: yields the response messages the interceptors return. */
export async function* runInterceptedCall<I extends DescMessage, O extends DescMessage>(
  channel: InterceptedChannel,
  call: TypedCall<I, O>,
): AsyncGenerator<MessageShape<O>> {
  const response = await intercept(channel, call, itself);
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
      throw new TunnelError(Code.INTERNAL, `${message === undefined ? "no" : "more than one"} response for ${call.method.name}`);
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

/**
 * The request interceptors see. Without a caller's signal, one is made only
 * if an interceptor reads `signal` (an AbortController per call costs);
 * `signalFor` tells the call which signal to listen to, if any.
 */
function requestOf<I extends DescMessage, O extends DescMessage>(
  call: TypedCall<I, O>,
): { request: AnyRequest; signalFor: (request: AnyRequest) => AbortSignal | undefined } {
  const { method, options, input } = call;
  const header = toMetadata(options.metadata);
  const deadline = callDeadline(options);
  const service = method.parent;
  const given = options.signal;
  let made: AbortController | undefined;
  const signal = () => given ?? (made ??= new AbortController()).signal;
  // One object per request, not a spread of a common part: a spread would call the getter.
  const make = (stream: boolean, message: AnyRequest["message"]) =>
    defineSharedGetter(
      { method, service, header, deadline, stream, message, [SIGNAL]: signal },
      "signal",
      signalGetter,
    ) as unknown as AnyRequest;
  const request = !("one" in input)
    ? make(true, messagesOf(method.input, input.many))
    : method.methodKind === "unary"
      ? make(false, toMessage(method.input, input.one))
      : make(true, once(toMessage(method.input, input.one)));
  const signalFor = (final: AnyRequest) => (final === request && made === undefined ? given : final.signal);
  return { request, signalFor };
}

/** Where a request keeps the function that makes its signal when first asked for. */
const SIGNAL = Symbol("signal");

function signalGetter(this: { [SIGNAL]: () => AbortSignal }): AbortSignal {
  return this[SIGNAL]();
}

/**
 * The innermost step: the call itself, on the channel's own channel, with
 * what the interceptors made of the request. A streaming call returns once
 * its response headers arrived (or it failed before any).
 */
function lastStep(channel: CallChannel, options: CallOptions, signalFor: (request: AnyRequest) => AbortSignal | undefined): InterceptorFn {
  return (request) => {
    const { method, service } = request;
    const kind = method.methodKind;
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    const headerArrived = request.stream ? deferred<void>() : undefined;
    const callOptions: CallOptions = {
      ...options,
      metadata: request.header,
      signal: signalFor(request),
      timeoutMs: undefined,
      deadline: request.deadline,
      onHeader: (received) => {
        header = received;
        headerArrived?.resolve();
        options.onHeader?.(received);
      },
      onTrailer: (received) => {
        trailer = received;
        options.onTrailer?.(received);
      },
    };
    if (!request.stream) {
      // `then`, not an async function: one promise fewer on the common path.
      return runUnaryCall(channel, method, request.message, callOptions).then((message) => ({
        stream: false,
        method,
        service,
        header: header ?? new Metadata(),
        message,
        trailer: trailer ?? new Metadata(),
      }));
    }
    const requests = request.message;
    return (async () => {
      const responses = runTypedCall({
        channel,
        method,
        options: callOptions,
        input: kind === "server_streaming" ? { one: await firstRequest(requests) } : { many: requests },
        responses: kind === "client_streaming" ? "one" : "many",
      });
      const first = responses.next(); // starts the call
      await Promise.race([headerArrived!.promise, first]);
      // The trailers arrive when the stream ends: the response's object is filled in then.
      const trailers = new Metadata();
      const messages = resume(first, responses, () => trailer && trailers.merge(trailer));
      return { stream: true, method, service, header: header ?? new Metadata(), trailer: trailers, message: messages };
    })();
  };
}

/** The responses of a started call: the first one (already asked for), then the rest; `ended` runs once they are all read. */
async function* resume<T>(first: Promise<IteratorResult<T>>, rest: AsyncGenerator<T>, ended: () => void): AsyncGenerator<T> {
  try {
    const result = await first;
    if (result.done) {
      return;
    }
    yield result.value;
    yield* rest;
  } finally {
    await rest.return(undefined); // leaving early cancels the call
    ended();
  }
}

/** The one request of a server-streaming call, from the request stream interceptors passed on. */
async function firstRequest(messages: AsyncIterable<MessageInitShape<DescMessage>>): Promise<MessageInitShape<DescMessage>> {
  for await (const message of messages) {
    return message; // leaving the loop closes the iterator
  }
  throw new TunnelError(Code.INTERNAL, "no request message for a server-streaming call");
}

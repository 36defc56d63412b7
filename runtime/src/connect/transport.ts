import type {
  DescMessage,
  DescMethod,
  DescMethodBiDiStreaming,
  DescMethodStreaming,
  DescMethodUnary,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import {
  ConnectError,
  createContextValues,
  type ContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import type { Metadata } from "@grpc/grpc-js";
import type { CallChannel } from "../api/client/index.js";
import type { CallOptions } from "../api/client/index.js";
import { methodPath } from "../api/client/index.js";
import { bidiStreamCall, unaryCall } from "../api/client/index.js";
import type { Code } from "../code.js";
import { deferred, type Deferred } from "../deferred.js";
import { TunnelError } from "../errors.js";
import { connectErrorFrom, headersToMetadata, metadataToHeaders } from "./convert.js";

/** What Connect accepts as request headers (the Fetch API's `HeadersInit`). */
type HeadersInit = ConstructorParameters<typeof Headers>[0];

/** Options of `tunnelTransport`. */
export interface TunnelTransportOptions {
  /** Connect interceptors, run for every call as Connect's own transports run them. */
  interceptors?: Interceptor[];
  /** Timeout for calls that set none (a call's `timeoutMs <= 0` means none). */
  defaultTimeoutMs?: number;
}

/** The parts of a Connect request that unary and streaming calls share. */
function requestOf<M extends DescMethod>(method: M, header: HeadersInit | undefined, contextValues: ContextValues | undefined) {
  return {
    service: method.parent,
    method,
    requestMethod: "POST",
    url: methodPath(method),
    header: new Headers(header),
    contextValues: contextValues ?? createContextValues(),
  };
}

/**
 * A Connect-ES `Transport` whose calls travel over a tunnel, so a Connect
 * client works unchanged on a forward tunnel, a reverse tunnel or a
 * round-robin `asChannel()` / `keyAsChannel(key)`:
 *
 * ```ts
 * const client = createClient(FooService, tunnelTransport(tunnel));
 * const res = await client.bar({ name: "x" }, { timeoutMs: 1000, headers: { "x-id": "1" } });
 * ```
 *
 * Call options map like Connect's gRPC transport: `headers` are the request
 * metadata (`-bin` values base64-encoded, as Connect writes them),
 * `timeoutMs` is sent as `grpc-timeout`, aborting `signal` cancels the call,
 * `onHeader`/`onTrailer` get the response metadata. Errors are
 * `ConnectError`s with the gRPC code, the status message, headers and
 * trailers as `metadata` and the `google.rpc.Status` details (see
 * `findDetails`). As with every Connect transport, a call is cancelled
 * through its `signal`: leaving a `for await` loop early does not reach the
 * transport.
 */
export function tunnelTransport(channel: CallChannel, options: TunnelTransportOptions = {}): Transport {
  const timeout = (timeoutMs: number | undefined) =>
    timeoutMs === undefined ? options.defaultTimeoutMs : timeoutMs <= 0 ? undefined : timeoutMs;
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const ms = timeout(timeoutMs);
      return runUnaryCall<I, O>({
        interceptors: options.interceptors,
        signal,
        timeoutMs: ms,
        req: { ...requestOf(method, header, contextValues), stream: false, message: input },
        next: (req) => unary(channel, req, ms),
      });
    },
    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      const ms = timeout(timeoutMs);
      return runStreamingCall<I, O>({
        interceptors: options.interceptors,
        signal,
        timeoutMs: ms,
        req: { ...requestOf(method, header, contextValues), stream: true, message: input },
        next: (req) => streaming(channel, req, ms),
      });
    },
  };
}

/** The tunnel call options of a Connect request; `onHeader` also resolves `headers`. */
function callOptions(req: UnaryRequest | StreamRequest, timeoutMs: number | undefined, headers: Deferred<Metadata>): CallOptions {
  let metadata: Metadata;
  try {
    metadata = headersToMetadata(req.header);
  } catch (e) {
    throw connectErrorFrom(e);
  }
  return { metadata, timeoutMs, signal: req.signal, onHeader: headers.resolve };
}

async function unary<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  req: UnaryRequest<I, O>,
  timeoutMs: number | undefined,
): Promise<UnaryResponse<I, O>> {
  const headers = deferred<Metadata>();
  let trailers: Metadata | undefined;
  const options = { ...callOptions(req, timeoutMs, headers), onTrailer: (md: Metadata) => (trailers = md) };
  try {
    const message = await unaryCall(channel, req.method, req.message, options);
    return {
      stream: false,
      service: req.service,
      method: req.method,
      header: metadataToHeaders(await headers.promise),
      message,
      trailer: metadataToHeaders(trailers),
    };
  } catch (e) {
    // The headers, if they came (a call that never started has none).
    throw connectErrorFrom(e, await Promise.race([headers.promise, Promise.resolve(undefined)]));
  }
}

async function streaming<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  req: StreamRequest<I, O>,
  timeoutMs: number | undefined,
): Promise<StreamResponse<I, O>> {
  const headers = deferred<Metadata>();
  let trailers: Metadata | undefined;
  const options = { ...callOptions(req, timeoutMs, headers), onTrailer: (md: Metadata) => (trailers = md) };
  // Every streaming kind is a bidi call in bytes; Connect's client checks
  // how many messages each kind sends and receives.
  const method = req.method as DescMethodBiDiStreaming<I, O>;
  const responses = bidiStreamCall(channel, method, withTunnelErrors(req.message), options)[Symbol.asyncIterator]();
  const first = responses.next(); // starts the call
  let header: Metadata;
  try {
    header = await Promise.race([headers.promise, first.then(() => headers.promise)]);
  } catch (e) {
    throw connectErrorFrom(e);
  }
  const trailer = new Headers();
  async function* messages(): AsyncGenerator<MessageShape<O>> {
    try {
      for (let next = await first; !next.done; next = await responses.next()) {
        yield next.value;
      }
      metadataToHeaders(trailers, trailer);
    } catch (e) {
      throw connectErrorFrom(e, header);
    } finally {
      await responses.return?.(undefined); // the caller stopped early: cancels the call (or, once over, does nothing)
    }
  }
  return { ...req, header: metadataToHeaders(header), trailer, message: messages() };
}

/** The requests, with a ConnectError they throw turned into the TunnelError that cancels the call (keeping its code). */
async function* withTunnelErrors<T>(requests: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* requests;
  } catch (e) {
    throw e instanceof ConnectError ? new TunnelError(e.code as number as Code, e.rawMessage, { cause: e }) : e;
  }
}

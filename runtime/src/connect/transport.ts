import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code as ConnectCode,
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
import type { CallChannel } from "../api/call-channel.js";
import { methodPath } from "../api/method-types.js";
import type { ClientStream } from "../engine/client-stream.js";
import type { Code } from "../code.js";
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

/** A started call and its response headers, once they arrive. */
interface Started {
  stream: ClientStream;
  headers: Promise<Metadata>;
}

function start(channel: CallChannel, req: UnaryRequest | StreamRequest, timeoutMs: number | undefined): Started {
  let received!: (headers: Metadata) => void;
  const headers = new Promise<Metadata>((resolve) => (received = resolve));
  try {
    const stream = channel.startStream(methodPath(req.method), {
      metadata: headersToMetadata(req.header),
      timeoutMs,
      signal: req.signal,
      onHeader: received,
    });
    return { stream, headers };
  } catch (e) {
    throw connectErrorFrom(e);
  }
}

async function unary<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  req: UnaryRequest<I, O>,
  timeoutMs: number | undefined,
): Promise<UnaryResponse<I, O>> {
  const { stream, headers } = start(channel, req, timeoutMs);
  try {
    await sendOrCancel(stream, encode(req.method.input, req.message));
    stream.closeSend();
    const bytes = await stream.read();
    if (bytes === undefined) {
      throw new ConnectError("protocol error: missing output message for unary method", ConnectCode.Unimplemented);
    }
    if ((await stream.read()) !== undefined) {
      throw new ConnectError("protocol error: received extra output message for unary method", ConnectCode.Unimplemented);
    }
    const message = decode(req.method.output, bytes);
    const { trailers } = await stream.finished;
    return {
      stream: false,
      service: req.service,
      method: req.method,
      header: metadataToHeaders(await headers),
      message,
      trailer: metadataToHeaders(trailers),
    };
  } catch (e) {
    stream.cancel();
    throw connectErrorFrom(e, await headers);
  }
}

async function streaming<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  req: StreamRequest<I, O>,
  timeoutMs: number | undefined,
): Promise<StreamResponse<I, O>> {
  const { stream, headers } = start(channel, req, timeoutMs);
  void pump(stream, req.method.input, req.message);
  const header = await headers;
  const trailer = new Headers();
  async function* responses(): AsyncGenerator<MessageShape<O>> {
    try {
      for (;;) {
        const bytes = await stream.read();
        if (bytes === undefined) {
          metadataToHeaders((await stream.finished).trailers, trailer);
          return;
        }
        yield decode(req.method.output, bytes);
      }
    } catch (e) {
      throw connectErrorFrom(e, header);
    } finally {
      stream.cancel(); // the caller stopped early (or the call is over: no-op)
    }
  }
  return { ...req, header: metadataToHeaders(header), trailer, message: responses() };
}

/** Sends every request, then half-closes; a failure ends the call with it. */
async function pump<I extends DescMessage>(stream: ClientStream, schema: I, requests: AsyncIterable<MessageShape<I>>): Promise<void> {
  try {
    for await (const request of requests) {
      if (stream.done) {
        return;
      }
      await stream.send(encode(schema, request));
    }
    stream.closeSend();
  } catch (e) {
    stream.cancel(cancelReason(e));
  }
}

async function sendOrCancel(stream: ClientStream, bytes: Uint8Array): Promise<void> {
  try {
    await stream.send(bytes);
  } catch (e) {
    stream.cancel(cancelReason(e));
  }
}

/** Why the call is cancelled, for the tunnel (a ConnectError keeps its code). */
function cancelReason(e: unknown): TunnelError {
  return e instanceof ConnectError ? new TunnelError(e.code as number as Code, e.rawMessage, { cause: e }) : TunnelError.from(e);
}

function encode<D extends DescMessage>(schema: D, message: MessageShape<D> | MessageInitShape<D>): Uint8Array {
  try {
    return toBinary(schema, create(schema, message as MessageInitShape<D>));
  } catch (e) {
    throw new ConnectError(`failed to serialize ${schema.typeName}: ${(e as Error).message}`, ConnectCode.Internal);
  }
}

function decode<D extends DescMessage>(schema: D, bytes: Uint8Array): MessageShape<D> {
  try {
    return fromBinary(schema, bytes);
  } catch (e) {
    throw new ConnectError(`failed to parse ${schema.typeName}: ${(e as Error).message}`, ConnectCode.Internal);
  }
}

import type { Http2Stream } from "node:http2";

/*
 * What the runtime reaches inside a grpc-js server call, and why. grpc-js
 * 1.14 reads a call's HTTP/2 stream ahead of its reader: its Readable
 * asks for up to 16 messages, and each is decompressed (up to 4 MiB from a
 * few KB of gzip) before anything is read. A tunnel that stopped reading
 * must stop grpc-js too, which no public API offers per call; these are the
 * few fields that do it. A test (grpc-js-internals.test.ts) fails when a
 * grpc-js release moves them; at run time a call whose internals are not
 * found is served as before, and a warning says once that the transport's
 * read-ahead is then not bounded.
 */

/** grpc-js's StreamDecoder: a message's 5-byte prefix and bytes, as they arrive. */
interface StreamDecoder {
  maxReadMessageLength: number;
  /** 2 while the bytes of a message are arriving. */
  readState: number;
  readMessageSize: number;
  readMessageRemaining: number;
  /** The chunks of the message arriving. */
  readPartialMessage: Buffer[];
}

/** grpc-js's BaseServerInterceptingCall: the bottom of a server call's interceptor chain. */
interface BaseServerCall {
  incomingEncoding: string;
  maxReceiveMessageSize: number;
  decoder: StreamDecoder;
  stream: Http2Stream;
  // For writing messages past grpc-js (see messageWriter).
  metadataSent?: unknown;
  maxSendMessageSize?: unknown;
  handler?: { serialize?: unknown };
}

const READING_MESSAGE = 2;

/** The parts of a grpc-js server call a tunnel transport adjusts. */
export interface ServerCallInternals {
  /** The call's `grpc-encoding` ("identity" when its messages are not compressed). */
  readonly encoding: string;
  /** The HTTP/2 stream under the call: pausing it stops Node returning window to the peer. */
  readonly stream: Http2Stream;
  /** Lowers the largest message grpc-js reads on this call (never raises it). */
  capMessageBytes(bytes: number): void;
  /** Bytes of the message grpc-js has read but not decoded yet. */
  partialMessageBytes(): number;
  /**
   * What that message keeps alive: the buffers its chunks view (Node's,
   * which other streams' data may share).
   */
  partialMessageHeld(): number;
  /** Lets go of the message arriving, for a call that is being ended: grpc-js never completes it. */
  dropPartialMessage(): void;
  /**
   * The HTTP/2 stream and the call's serializer, to write response
   * messages past grpc-js (see batched-stream-writes.ts): only once the
   * response headers went out, when no server interceptor sits on the call
   * (it may hold or change messages) and no send limit applies (grpc-js
   * checks it per message); else undefined, and messages go through grpc-js.
   */
  messageWriter(): MessageWriter | undefined;
}

/** Where a call's messages can be written as gRPC messages, and how they are encoded. */
export interface MessageWriter {
  readonly stream: Http2Stream;
  readonly serialize: (message: unknown) => Uint8Array;
}

/**
 * The internals of a grpc-js server duplex call, or undefined when this
 * grpc-js keeps them elsewhere. Walks the interceptor chain (`nextCall`)
 * down to the base call. A call with no chain at all is not grpc-js's (the
 * in-process transport's, a test's): it has no read-ahead to bound, and no
 * warning is due.
 */
export function serverCallInternals(call: object): ServerCallInternals | undefined {
  let next: unknown = (call as { call?: unknown }).call;
  if (!isObject(next)) {
    return undefined;
  }
  for (let depth = 0; depth < 32 && isObject(next); depth++) {
    if (isBaseCall(next)) {
      return internalsOf(next, depth > 0);
    }
    next = (next as { nextCall?: unknown }).nextCall;
  }
  warnOnce();
  return undefined;
}

function internalsOf(base: BaseServerCall, intercepted: boolean): ServerCallInternals {
  // Counted incrementally: chunks are only appended to a message's array.
  let counted: Buffer[] | undefined;
  let countedChunks = 0;
  const buffers = new Set<ArrayBufferLike>();
  let retained = 0;
  return {
    encoding: base.incomingEncoding,
    stream: base.stream,
    capMessageBytes(bytes) {
      const current = base.maxReceiveMessageSize;
      if (current === -1 || current > bytes) {
        base.maxReceiveMessageSize = bytes;
        base.decoder.maxReadMessageLength = bytes;
      }
    },
    partialMessageBytes() {
      const decoder = base.decoder;
      return decoder.readState === READING_MESSAGE ? decoder.readMessageSize - decoder.readMessageRemaining : 0;
    },
    partialMessageHeld() {
      const decoder = base.decoder;
      const chunks = decoder.readState === READING_MESSAGE ? decoder.readPartialMessage : undefined;
      if (chunks !== counted) {
        counted = chunks;
        countedChunks = 0;
        buffers.clear();
        retained = 0;
      }
      for (; chunks !== undefined && countedChunks < chunks.length; countedChunks++) {
        const buffer = chunks[countedChunks]!.buffer;
        if (!buffers.has(buffer)) {
          buffers.add(buffer);
          retained += buffer.byteLength;
        }
      }
      return retained;
    },
    dropPartialMessage() {
      base.decoder.readPartialMessage = [];
      counted = undefined;
      buffers.clear();
    },
    messageWriter() {
      const serialize = base.handler?.serialize;
      if (intercepted || base.metadataSent !== true || base.maxSendMessageSize !== -1 || typeof serialize !== "function") {
        return undefined;
      }
      const stream = base.stream;
      return isWritableStream(stream) ? { stream, serialize: serialize as MessageWriter["serialize"] } : undefined;
    },
  };
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}

function isBaseCall(value: object): value is BaseServerCall {
  const base = value as Partial<BaseServerCall>;
  return (
    typeof base.incomingEncoding === "string" &&
    typeof base.maxReceiveMessageSize === "number" &&
    isObject(base.decoder) &&
    typeof base.decoder.maxReadMessageLength === "number" &&
    typeof base.decoder.readMessageRemaining === "number" &&
    Array.isArray(base.decoder.readPartialMessage) &&
    isObject(base.stream) &&
    typeof base.stream.pause === "function"
  );
}

let warned = false;

function warnOnce(): void {
  if (!warned) {
    warned = true;
    process.emitWarning(
      "grpctunnel: this @grpc/grpc-js keeps its server call internals elsewhere than 1.14 did; tunnels are served," +
        " but compressed tunnel RPCs are not refused and grpc-js's read-ahead of a paused tunnel is not bounded",
      { code: "GRPCTUNNEL_GRPC_JS_INTERNALS" },
    );
  }
}

/*
 * The client side. A grpc-js client call hands its HTTP/2 stream one
 * message per write that stream completed (its Duplex and its retry layer
 * each wait for the last write), and Node's HTTP/2 session sends one such
 * write per flush: the frames an engine writes in one turn leave one
 * `writev` each, and the peer reads them one at a time. So concurrent calls
 * on a tunnel never share a read, and a gateway in front of the tunnel
 * never gathers its answers. Written to the HTTP/2 stream directly, the
 * frames of a turn leave together (see batched-stream-writes.ts).
 */

/** The path from a grpc-js client call down to its HTTP/2 stream, as grpc-js 1.14 builds it. */
interface ClientCallChain {
  /** ClientDuplexStreamImpl.call: the bottom intercepting call when no interceptor is configured. */
  call?: { methodDefinition?: unknown; nextCall?: unknown; call?: ResolvingCall };
}
interface ResolvingCall {
  child?: RetryingCall & LoadBalancingCall;
}
interface RetryingCall {
  state?: string;
  committedCallIndex?: number | null;
  underlyingCalls?: Array<{ call?: LoadBalancingCall }>;
}
interface LoadBalancingCall {
  child?: { http2Stream?: Http2Stream };
}

/**
 * The HTTP/2 stream under a grpc-js client call, or undefined when the
 * call is behind client interceptors (which may hold or change messages:
 * its frames must then go through them), has not committed to one attempt
 * (a retry would replay through grpc-js), or this grpc-js keeps it
 * elsewhere. Asked once the call has its response headers.
 */
export function clientCallStream(call: object): Http2Stream | undefined {
  const bottom = (call as ClientCallChain).call;
  if (!isObject(bottom) || bottom.methodDefinition === undefined || bottom.nextCall !== undefined) {
    return undefined; // interceptors sit between, or not grpc-js's chain
  }
  let attempt: LoadBalancingCall | undefined = bottom.call?.child;
  if (isObject(attempt) && Array.isArray((attempt as RetryingCall).underlyingCalls)) {
    const retrying = attempt as RetryingCall;
    const index = retrying.committedCallIndex;
    if (retrying.state !== "COMMITTED" || typeof index !== "number") {
      return undefined;
    }
    attempt = retrying.underlyingCalls?.[index]?.call;
  }
  const stream = isObject(attempt) ? attempt.child?.http2Stream : undefined;
  return isWritableStream(stream) ? stream : undefined;
}

/** True for an HTTP/2 stream that BatchedStreamWrites can write to (write, cork). */
function isWritableStream(stream: unknown): stream is Http2Stream {
  return isObject(stream) && typeof (stream as Http2Stream).write === "function" && typeof (stream as Http2Stream).cork === "function";
}

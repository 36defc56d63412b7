import {
  status as Status,
  type handleBidiStreamingCall,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type sendUnaryData,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { StreamHandler } from "../../engine/server-engine.js";
import { GRPC_JS_CALL_BYTES } from "../../engine/memory-costs.js";
import { TunnelError } from "../../errors.js";
import { isMetadata } from "../../metadata.js";
import type { ServiceRegistry } from "../serve/index.js";
import { TunnelServerCall, sendErrorDetails, type MessageCodec } from "./server-core.js";
import { TunnelServerDuplexStream, TunnelServerWritableStream, rememberTunnelMetadata, serverErrorToStatus } from "./server-call.js";

/** Options of `addService` for grpc-js definitions. */
export interface GrpcServiceOptions {
  /**
   * grpc-js server interceptors for this service's tunneled calls, applied
   * as a `grpc.Server` constructed with `{ interceptors }` applies them.
   */
  interceptors?: ServerInterceptor[];
}

type MethodType = "unary" | "clientStream" | "serverStream" | "bidi";
type Call = ServerInterceptingCallInterface;
type Handler = (...args: never[]) => unknown;

interface Method {
  path: string;
  service: string;
  method: string;
  type: MethodType;
  func: Handler;
  definition: ServerMethodDefinition<unknown, unknown>;
}

/**
 * Registers the methods of a grpc-js `ServiceDefinition` (from
 * `@grpc/proto-loader`, `grpc-tools`, `ts-proto`, ...) with their
 * `UntypedServiceImplementation`, the arguments of `grpc.Server.addService`,
 * for tunneled calls. Methods are found by name or `originalName`, as grpc-js
 * does; missing ones answer UNIMPLEMENTED ("The server does not implement the
 * method X"). Messages are (de)serialized with the definition's functions.
 */
export function addGrpcService(
  registry: ServiceRegistry,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  options: GrpcServiceOptions = {},
): void {
  if (definition === null || typeof definition !== "object" || implementation === null || typeof implementation !== "object") {
    throw new Error("addService() requires two objects as arguments");
  }
  const names = Object.keys(definition);
  if (names.length === 0) {
    throw new Error("Cannot add an empty service to a server");
  }
  const methods = names.map((name) => describeMethod(name, definition[name], implementation));
  for (const m of methods) {
    if (registry.lookup(`${m.service}/${m.method}`) !== undefined) {
      throw new Error(`Method handler for ${m.path} already provided.`);
    }
  }
  for (const service of new Set(methods.map((m) => m.service))) {
    registry.claim(service);
  }
  const interceptors = options.interceptors ?? [];
  for (const m of methods) {
    registry.registerHandler(m.service, m.method, streamHandler(m, interceptors));
  }
}

function describeMethod(name: string, attrs: ServiceDefinition[string], implementation: UntypedServiceImplementation): Method {
  const match = /^\/?([^/]+)\/([^/]+)$/.exec(attrs.path);
  if (match === null) {
    throw new Error(`method ${name} has a malformed path ${JSON.stringify(attrs.path)}`);
  }
  const type: MethodType = attrs.requestStream
    ? attrs.responseStream
      ? "bidi"
      : "clientStream"
    : attrs.responseStream
      ? "serverStream"
      : "unary";
  let impl: UntypedHandleCall | undefined = implementation[name];
  if (impl === undefined && typeof attrs.originalName === "string") {
    impl = implementation[attrs.originalName];
  }
  const func = (impl !== undefined ? impl.bind(implementation) : unimplemented(type, name)) as Handler;
  return {
    path: attrs.path,
    service: match[1],
    method: match[2],
    type,
    func,
    definition: {
      path: attrs.path,
      requestStream: attrs.requestStream,
      responseStream: attrs.responseStream,
      requestDeserialize: attrs.requestDeserialize,
      responseSerialize: attrs.responseSerialize,
      originalName: attrs.originalName,
    },
  };
}

function streamHandler(m: Method, interceptors: ServerInterceptor[]): StreamHandler {
  const codec: MessageCodec = {
    serialize: (value) => m.definition.responseSerialize(value),
    deserialize: (bytes) => m.definition.requestDeserialize(bytes),
  };
  return (stream) => {
    // grpc-js's call objects weigh more than a typed handler's frames.
    if (!stream.reserveMemory(GRPC_JS_CALL_BYTES)) {
      return Promise.resolve();
    }
    const base = new TunnelServerCall(stream, codec);
    const call = interceptors.reduce<Call>((next, interceptor) => interceptor(m.definition, next), base);
    runners[m.type](call, m, base.tunnelMetadata);
    return base.result;
  };
}

/** How grpc-js answers a method the implementation lacks. */
function unimplemented(type: MethodType, name: string): UntypedHandleCall {
  const status = { code: Status.UNIMPLEMENTED, details: `The server does not implement the method ${name}` };
  if (type === "unary" || type === "clientStream") {
    return (_call: unknown, callback: sendUnaryData<unknown>) => callback(status, null);
  }
  return (call: { emit(event: "error", error: unknown): boolean }) => call.emit("error", status);
}

// The handler runners below follow grpc-js 1.14 (server.js handleUnary & co.).

type Runner = (call: Call, m: Method, tunnelMetadata: Metadata) => void;

const runners: Record<MethodType, Runner> = {
  unary: (call, m, tunnelMetadata) => {
    const func = m.func as unknown as handleUnaryCall<unknown, unknown>;
    singleRequest(call, m, tunnelMetadata, false, (surface) => func(surface as never, respond(call)));
  },
  serverStream: (call, m, tunnelMetadata) => {
    const func = m.func as unknown as handleServerStreamingCall<unknown, unknown>;
    singleRequest(call, m, tunnelMetadata, true, (surface) => func(surface as never));
  },
  clientStream: (call, m, tunnelMetadata) => {
    const func = m.func as unknown as handleClientStreamingCall<unknown, unknown>;
    streamingRequests(call, m, tunnelMetadata, (surface) => func(surface as never, respond(call)));
  },
  bidi: (call, m, tunnelMetadata) => {
    const func = m.func as unknown as handleBidiStreamingCall<unknown, unknown>;
    streamingRequests(call, m, tunnelMetadata, (surface) => func(surface as never));
  },
};

/** The callback of unary-response handlers. The first answer wins; later calls do nothing. */
function respond(call: Call): sendUnaryData<unknown> {
  let answered = false;
  return (err, value, trailer) => {
    if (answered) {
      return;
    }
    answered = true;
    const trailers = isMetadata(trailer) ? trailer : undefined;
    if (err) {
      call.sendStatus(serverErrorToStatus(err, trailers) as Parameters<Call["sendStatus"]>[0]);
      return;
    }
    call.sendMessage(value, () => call.sendStatus({ code: Status.OK, details: "OK", metadata: trailers ?? null }));
  };
}

type Surface = TunnelServerWritableStream | TunnelServerDuplexStream;

/**
 * Unary and server-streaming: read the one request up to the half-close,
 * then run the handler on a Writable carrying it.
 */
function singleRequest(
  call: Call,
  m: Method,
  tunnelMetadata: Metadata,
  destroyOnCancel: boolean,
  run: (surface: TunnelServerWritableStream) => unknown,
): void {
  let surface: TunnelServerWritableStream | undefined;
  let metadata: Metadata;
  let request: { value: unknown } | undefined;
  call.start({
    onReceiveMetadata(md) {
      metadata = md;
      call.startRead();
    },
    onReceiveMessage(message) {
      if (request !== undefined) {
        const details = `Received a second request message for server streaming method ${m.path}`;
        call.sendStatus({ code: Status.UNIMPLEMENTED, details, metadata: null });
        return;
      }
      request = { value: message };
      call.startRead();
    },
    onReceiveHalfClose() {
      if (request === undefined) {
        const details = `Received no request message for server streaming method ${m.path}`;
        call.sendStatus({ code: Status.UNIMPLEMENTED, details, metadata: null });
        return;
      }
      const s = new TunnelServerWritableStream(m.path, call, metadata, request.value);
      surface = s;
      rememberTunnelMetadata(s, tunnelMetadata);
      invoke(call, () => run(s));
    },
    onCancel() {
      cancelSurface(surface, destroyOnCancel);
    },
  });
}

/** Client-streaming and bidi: run the handler at once on a Duplex fed with the requests. */
function streamingRequests(call: Call, m: Method, tunnelMetadata: Metadata, run: (surface: TunnelServerDuplexStream) => unknown): void {
  let surface: TunnelServerDuplexStream | undefined;
  call.start({
    onReceiveMetadata(metadata) {
      const s = new TunnelServerDuplexStream(m.path, call, metadata);
      surface = s;
      rememberTunnelMetadata(s, tunnelMetadata);
      invoke(call, () => run(s));
    },
    onReceiveMessage(message) {
      surface?.push(message);
    },
    onReceiveHalfClose() {
      surface?.push(null);
    },
    onCancel() {
      cancelSurface(surface, true);
    },
  });
}

/**
 * Runs a handler. Whatever it throws, or its promise rejects with (an async
 * handler; grpc-js would leave that an unhandled rejection), ends the call
 * with UNKNOWN, unless it already has a status.
 */
function invoke(call: Call, run: () => unknown): void {
  const fail = (err: unknown) => {
    const details = sendErrorDetails() ? `Server method handler threw error ${TunnelError.from(err).rawMessage}` : "Unknown error";
    try {
      call.sendStatus({ code: Status.UNKNOWN, details, metadata: null });
    } catch (e) {
      // Only a throwing interceptor gets here: report it rather than let the rejection escape.
      process.emitWarning(`grpctunnel: sending a handler's error status failed: ${TunnelError.from(e).rawMessage}`);
    }
  };
  let result: unknown;
  try {
    result = run();
  } catch (err) {
    fail(err);
    return;
  }
  if (result !== undefined && result !== null) {
    Promise.resolve(result).then(undefined, fail);
  }
}

function cancelSurface(surface: Surface | undefined, destroy: boolean): void {
  if (surface !== undefined) {
    surface.cancelled = true;
    surface.emit("cancelled", "cancelled");
    if (destroy) {
      surface.destroy();
    }
  }
}

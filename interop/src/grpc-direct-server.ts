import type { EventEmitter } from "node:events";
import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Code, TunnelError, type HandlerContext, type ServiceImpl } from "@protoc-gen-tunnel/runtime";
import {
  grpcStatusFromError,
  methodPath,
  type BidiStreamingImpl,
  type ClientStreamingImpl,
  type ServerStreamingImpl,
  type UnaryImpl,
} from "@protoc-gen-tunnel/runtime/protocol";
import { grpcServiceDefinition } from "./grpc-direct.js";
import { readMessages, writeMessage } from "./stream-io.js";

type Msg = MessageShape<DescMessage>;
type AnyServerCall =
  | grpc.ServerUnaryCall<Msg, unknown>
  | grpc.ServerReadableStream<Msg, unknown>
  | grpc.ServerWritableStream<Msg, unknown>
  | grpc.ServerDuplexStream<Msg, unknown>;

// setTimeout cannot wait longer than this; later deadlines never fire.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The definition and implementation to pass to `grpc.Server.addService` for
 * a runtime `ServiceImpl`: `server.addService(...grpcService(S, impl))`.
 * Handlers see the same HandlerContext as over a tunnel (without tunnel
 * metadata); a thrown TunnelError ends the call with its code, message,
 * details (in `grpc-status-details-bin`) and trailers.
 */
export function grpcService<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] {
  return [grpcServiceDefinition(service), grpcServiceImplementation(service, impl)];
}

/** grpc-js handlers for the methods of `impl`; the others answer UNIMPLEMENTED as over a tunnel. */
export function grpcServiceImplementation<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
): grpc.UntypedServiceImplementation {
  const handlers: grpc.UntypedServiceImplementation = {};
  const methods = impl as Record<string, ((...args: never[]) => unknown) | undefined>;
  for (const method of service.methods) {
    const fn = methods[method.localName];
    handlers[method.localName] = typeof fn === "function" ? methodHandler(method, fn.bind(impl)) : unimplementedHandler(method);
  }
  return handlers;
}

function methodHandler(method: DescMethod, fn: (...args: never[]) => unknown): grpc.UntypedHandleCall {
  switch (method.methodKind) {
    case "unary": {
      const unary = fn as unknown as UnaryImpl<DescMessage, DescMessage>;
      return (call: grpc.ServerUnaryCall<Msg, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const state = new CallState(call, method);
        respondOnce(state, callback, () => unary(call.request, state.context));
      };
    }
    case "client_streaming": {
      const clientStream = fn as unknown as ClientStreamingImpl<DescMessage, DescMessage>;
      return (call: grpc.ServerReadableStream<Msg, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const state = new CallState(call, method);
        respondOnce(state, callback, () => clientStream(readMessages<Msg>(call, state.signal), state.context));
      };
    }
    case "server_streaming": {
      const serverStream = fn as unknown as ServerStreamingImpl<DescMessage, DescMessage>;
      return (call: grpc.ServerWritableStream<Msg, unknown>) => {
        const state = new CallState(call, method);
        respondStreaming(state, call, () => serverStream(call.request, state.context));
      };
    }
    case "bidi_streaming": {
      const bidiStream = fn as unknown as BidiStreamingImpl<DescMessage, DescMessage>;
      return (call: grpc.ServerDuplexStream<Msg, unknown>) => {
        const state = new CallState(call, method);
        respondStreaming(state, call, () => bidiStream(readMessages<Msg>(call, state.signal), state.context));
      };
    }
  }
}

function unimplementedHandler(method: DescMethod): grpc.UntypedHandleCall {
  const status = { code: Code.UNIMPLEMENTED, details: `${methodPath(method).slice(1)} not implemented` };
  if (method.methodKind === "unary" || method.methodKind === "client_streaming") {
    return (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(status);
  }
  return (call: grpc.ServerWritableStream<Msg, unknown>) => call.emit("error", status);
}

/** Unary and client-streaming: one response (with trailers) or a status. */
function respondOnce(state: CallState, callback: grpc.sendUnaryData<unknown>, run: () => unknown): void {
  new Promise((resolve) => resolve(run())).then(
    (response) => {
      state.flushHeaders();
      state.dispose();
      callback(null, response, state.responseTrailers);
    },
    (reason: unknown) => callback(state.fail(reason)),
  );
}

/** Server-streaming and bidi: writes responses as the handler yields them, then the status. */
function respondStreaming(
  state: CallState,
  call: grpc.ServerWritableStream<Msg, unknown> | grpc.ServerDuplexStream<Msg, unknown>,
  run: () => AsyncIterable<unknown>,
): void {
  (async () => {
    for await (const response of run()) {
      state.flushHeaders();
      await writeMessage(call, response, state.signal);
    }
  })().then(
    () => {
      state.flushHeaders();
      state.dispose();
      call.end(state.responseTrailers);
    },
    (reason: unknown) => call.emit("error", state.fail(reason)),
  );
}

/** What one call's handler knows and controls, as in the tunnel runtime. */
class CallState {
  readonly responseHeaders = new grpc.Metadata();
  readonly responseTrailers = new grpc.Metadata();
  readonly context: HandlerContext;
  private readonly controller = new AbortController();
  private headersSent = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly call: AnyServerCall,
    method: DescMethod,
  ) {
    (call as EventEmitter).on("cancelled", () => this.abort(new TunnelError(Code.CANCELLED, "call cancelled by client")));
    const deadline = deadlineOf(call);
    if (deadline !== undefined) {
      const delay = deadline.getTime() - Date.now();
      if (delay <= MAX_TIMER_MS) {
        this.timer = setTimeout(() => this.abort(new TunnelError(Code.DEADLINE_EXCEEDED, "deadline exceeded")), Math.max(0, delay));
      }
    }
    this.context = {
      method: methodPath(method),
      metadata: call.metadata,
      tunnelMetadata: new grpc.Metadata(), // no tunnel here
      peer: call.getPeer(),
      authContext: call.getAuthContext(),
      protocolRevision: 1, // no tunnel either: plain HTTP/2, which is flow-controlled
      deadline,
      signal: this.controller.signal,
      responseHeaders: this.responseHeaders,
      responseTrailers: this.responseTrailers,
      sendHeaders: () => {
        if (this.headersSent) {
          throw new TunnelError(Code.INTERNAL, "response headers were already sent");
        }
        this.flushHeaders();
      },
    };
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Sends the response headers once, explicitly: grpc-js would otherwise
   * send a trailers-only response on error and drop the handler's headers,
   * where a tunnel always delivers them.
   */
  flushHeaders(): void {
    if (!this.headersSent) {
      this.headersSent = true;
      if (!this.controller.signal.aborted) {
        this.call.sendMetadata(this.responseHeaders);
      }
    }
  }

  /**
   * The status for a handler failure (headers go first, as over a tunnel):
   * UNKNOWN unless it threw a TunnelError, the handler's trailers plus the
   * error's, and the details in `grpc-status-details-bin`.
   */
  fail(reason: unknown): grpc.StatusObject {
    this.flushHeaders();
    this.dispose();
    const status = grpcStatusFromError(TunnelError.from(reason, Code.UNKNOWN));
    const metadata = this.responseTrailers.clone();
    metadata.merge(status.metadata);
    return { ...status, metadata };
  }

  dispose(): void {
    clearTimeout(this.timer);
  }

  private abort(reason: TunnelError): void {
    clearTimeout(this.timer);
    if (!this.controller.signal.aborted) {
      this.controller.abort(reason);
    }
  }
}

function deadlineOf(call: AnyServerCall): Date | undefined {
  const deadline = call.getDeadline();
  if (deadline instanceof Date) {
    return deadline;
  }
  return Number.isFinite(deadline) ? new Date(deadline) : undefined;
}

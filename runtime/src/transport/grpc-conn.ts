import type { Http2Stream } from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { FrameConn, FrameSink } from "../engine/frame-conn.js";
import { HTTP2_DEFAULT_WINDOW_BYTES } from "../engine/limits.js";
import { memoryExhausted, type MemoryBudget } from "../engine/memory-budget.js";
import { pausedReadAheadBytes } from "../engine/memory-costs.js";
import type { ClientToServer, ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { dataFrameBound } from "../protocol/frame-codec.js";
import { giveBack, leaseBuffer } from "./frame-buffers.js";
import { BatchedStreamWrites } from "./batched-stream-writes.js";
import { clientCallStream, type ServerCallInternals } from "./grpc-js-internals.js";

/** A tunnel RPC as the engines see it: frames out, and the switch that starts frames in. */
export type CallConn<Out, In> = FrameConn<Out> & { listen(sink: FrameSink<In>): void };

/**
 * Adapts the network client's side of a tunnel RPC (a grpc-js client duplex
 * call) to the engines. `listen` starts delivering inbound frames; until
 * then grpc-js buffers them. Given the call's serializer, frames go
 * straight to its HTTP/2 stream when grpc-js lets them (see
 * BatchedStreamWrites), else through the call.
 */
export function clientCallConn<Out, In>(
  call: grpc.ClientDuplexStream<Out, In>,
  serialize?: (frame: Out) => Uint8Array,
  streamWindowBytes = HTTP2_DEFAULT_WINDOW_BYTES,
): CallConn<Out, In> {
  // grpc-js emits 'error' for every non-OK status; 'status' carries the same.
  call.on("error", () => {});
  // The status ends the call: grpc-js holds no frames of it any more.
  const closed = whenOver(call, "status");
  const writes = new StreamWrites<Out>(() => {
    const stream = serialize === undefined ? undefined : clientCallStream(call);
    return stream === undefined || serialize === undefined ? undefined : { stream, serialize };
  });
  return {
    // No leased buffers here (see frame-buffers.ts): a grpc-js client call
    // reports a write done once its retry layer holds the frame, which is
    // grpc-js's own framed copy today, but nothing promises it stays so.
    write: (frame, sent) => (writes.batched() ?? call).write(frame, sent),
    onDrain: (listener) => {
      call.on("drain", listener);
      writes.onDrain(listener);
    },
    onClosed: closed,
    ...readGate(call, undefined),
    // grpc-js pauses the HTTP/2 stream while nothing reads: Node then holds at most its window.
    pausedReadAheadBytes: pausedReadAheadBytes(streamWindowBytes),
    end: () => {
      writes.flush(); // the half-close follows the frames written
      call.end();
    },
    // The engine records its own error; grpc-js can only cancel (RST_STREAM).
    abort: () => {
      writes.drop();
      call.cancel();
    },
    listen(sink) {
      call.on("data", (frame: In) => sink.receive(frame));
      call.on("status", (status: grpc.StatusObject) => {
        sink.transportEnded(
          status.code === Code.OK ? undefined : new TunnelError(status.code, status.details, { metadata: status.metadata }),
        );
      });
    },
  };
}

/**
 * A call's frames batched past grpc-js (BatchedStreamWrites) when `find`
 * gives the HTTP/2 stream to write them to, else through the call. Decided
 * at the first write, once the call has its response headers (the engine
 * writes nothing before); drain listeners registered before then move to
 * that stream, which then pushes back instead of the call.
 */
class StreamWrites<Out> {
  private writer: BatchedStreamWrites<Out> | null | undefined;
  private readonly drainListeners: Array<() => void> = [];

  constructor(private readonly find: () => { stream: Http2Stream; serialize: (frame: Out) => Uint8Array } | undefined) {}

  /** The batched writer, or null: through the call. */
  batched(): BatchedStreamWrites<Out> | null {
    if (this.writer === undefined) {
      const target = this.find();
      this.writer = target === undefined ? null : new BatchedStreamWrites(target.stream, target.serialize);
      for (const listener of this.drainListeners) {
        this.writer?.onDrain(listener);
      }
    }
    return this.writer;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
    this.writer?.onDrain(listener);
  }

  /** Writes all that waits: before the end of the call, which must follow it. */
  flush(): void {
    this.writer?.flush(true);
  }

  /** Forgets what waits: the call is being cancelled. */
  drop(): void {
    this.writer?.drop();
  }
}

/**
 * Adapts the network server's side of a tunnel RPC (a grpc-js server duplex
 * call) to the engines. The client half-closing the RPC is a clean end;
 * cancellation or a broken connection ends it with CANCELLED (grpc-js cannot
 * tell the two apart on the server, and gRPC servers report both so).
 */
export function serverCallConn<In, Out extends Frame>(
  call: grpc.ServerDuplexStream<In, Out>,
  internals?: ServerCallInternals,
  streamWindowBytes = HTTP2_DEFAULT_WINDOW_BYTES,
): CallConn<Out, In> {
  // True once our status (or error) went to grpc-js: it takes no frames after it.
  let ended = false;
  // grpc-js reports 'cancelled' once the call is over at the HTTP/2 level:
  // its status went out, or the stream closed (reset, connection lost).
  const closed = whenOver(call, "cancelled");
  const writes = new StreamWrites<Out>(() => internals?.messageWriter());
  const conn: CallConn<Out, In> = {
    // Frames after our status are dropped; `onClosed` releases them.
    write: (frame, sent) => ended || writeFrame(writes.batched() ?? call, frame, sent),
    onDrain: (listener) => {
      call.on("drain", listener);
      writes.onDrain(listener);
    },
    onClosed: closed,
    ...readGate(call, internals),
    // Node holds at most the window of a paused HTTP/2 stream: HTTP/2's default, or what was granted.
    pausedReadAheadBytes: pausedReadAheadBytes(streamWindowBytes),
    end: () => {
      if (!ended) {
        ended = true;
        writes.flush(); // the status follows the frames written
        call.end();
      }
    },
    abort: (error) => {
      if (!ended) {
        ended = true;
        writes.drop();
        call.emit("error", { code: error.code, details: error.rawMessage, metadata: error.metadata });
      }
    },
    listen(sink) {
      call.on("data", (frame: In) => sink.receive(frame));
      call.on("end", () => {
        // The peer half-closed the tunnel RPC, or so it seems: Node also ends
        // the request stream of an HTTP/2 stream that closed under it (the
        // connection died: keepalive gave up, a reset, a killed peer). grpc-js
        // has then seen the stream close and its 'cancelled' is queued for
        // the next tick; sending our OK status makes it check once more. So
        // the verdict waits a tick: a half-close is a clean end, unless
        // 'cancelled' came first. Until then the engine takes no new streams,
        // so a call is routed elsewhere rather than started on a dead tunnel.
        conn.end();
        sink.transportEnding?.();
        process.nextTick(() => {
          if (!call.cancelled) {
            sink.transportEnded();
          }
        });
      });
      call.on("cancelled", () => {
        ended = true;
        sink.transportEnded(new TunnelError(Code.CANCELLED, "tunnel RPC cancelled by the network client, or its connection was lost"));
      });
      call.on("error", () => {});
    },
  };
  return conn;
}

type Frame = ClientToServer | ServerToClient;

/**
 * `pauseReading` and `resumeReading` for a grpc-js duplex call. Pausing its
 * Readable is not enough: grpc-js goes on reading messages (and
 * decompressing them) until 16 wait in the Readable. So while paused, the
 * Readable's requests for more (`_read`, which makes grpc-js read the next
 * message) are held back and made on resume; on a server call whose
 * internals are known, the HTTP/2 stream is paused too (grpc-js may be in
 * the middle of a message), so Node returns no window and HTTP/2's
 * stream-level flow control stalls the peer. What grpc-js then still holds
 * is the rest of one DATA frame (at most 16 KiB), and Node at most the
 * stream's window (64 KiB, or what http2-window.ts granted): the engine
 * charges that while paused.
 */
function readGate(
  call: NodeJS.ReadableStream & { _read(size: number): void },
  internals: ServerCallInternals | undefined,
): Pick<FrameConn<unknown>, "pauseReading" | "resumeReading"> {
  const read = call._read;
  let paused = false;
  let heldBack: number | undefined;
  let streamWasFlowing = false;
  call._read = function (this: unknown, size: number) {
    if (paused) {
      heldBack = size;
    } else {
      read.call(call, size);
    }
  };
  return {
    pauseReading: () => {
      paused = true;
      call.pause();
      if (internals !== undefined) {
        streamWasFlowing = internals.stream.readableFlowing === true;
        internals.stream.pause();
      }
    },
    resumeReading: () => {
      paused = false;
      if (streamWasFlowing) {
        streamWasFlowing = false;
        internals?.stream.resume();
      }
      if (heldBack !== undefined) {
        const size = heldBack;
        heldBack = undefined;
        read.call(call, size);
      }
      call.resume();
    },
  };
}

/**
 * Writes a frame to a grpc-js server call (or past it); a data frame with
 * a leased buffer to be encoded into, given back once the write is reported
 * done (HTTP/2 has taken the bytes, so nothing reads the buffer any more).
 */
function writeFrame<Out extends Frame>(call: { write(frame: Out, sent: () => void): boolean }, frame: Out, sent: () => void): boolean {
  const bound = dataFrameBound(frame);
  const buffer = bound === 0 ? undefined : leaseBuffer(frame, bound);
  if (buffer === undefined) {
    return call.write(frame, sent);
  }
  return call.write(frame, () => {
    giveBack(frame, buffer);
    sent();
  });
}

/**
 * `onClosed` for a grpc-js call that is over once it emits `event`: a
 * listener registered after that runs at once.
 */
function whenOver(call: NodeJS.EventEmitter, event: string): (listener: () => void) => void {
  let over = false;
  call.once(event, () => (over = true));
  return (listener) => {
    if (over) {
      listener();
    } else {
      call.once(event, listener);
    }
  };
}

/**
 * The part of a frame still arriving that is counted without being refused:
 * a revision-1 chunk within the reference window, a control frame with
 * metadata of the default limit. A budget that is full then refuses the
 * frame's stream once it arrived (as always), rather than the tunnel.
 */
const PARTIAL_FRAME_ALLOWANCE = 64 * 1024;

/**
 * Charges to `memory` what a message grpc-js has read from `internals`'
 * HTTP/2 stream but not yet handed over keeps alive (a tunnel frame of up
 * to the call's largest message size, arriving), checked after each DATA
 * frame Node delivers (which grpc-js took first). Once the frame's bytes
 * are past PARTIAL_FRAME_ALLOWANCE a budget may refuse it: `refused` then runs with
 * the status to end the tunnel with, and grpc-js drops the frame and
 * reads no more. Released as the frame is handed over, or once the call is
 * over.
 */
export function chargePartialMessages(
  internals: ServerCallInternals,
  memory: MemoryBudget,
  conn: Pick<FrameConn<unknown>, "onClosed">,
  refused: (error: TunnelError) => void,
): void {
  let charged = 0;
  let over = false;
  const onData = () => {
    if (over) {
      return;
    }
    const partial = internals.partialMessageHeld();
    if (partial === charged) {
      return; // the common case: no frame arriving, or nothing new
    }
    if (partial < charged) {
      memory.release(charged - partial);
    } else if (internals.partialMessageBytes() <= PARTIAL_FRAME_ALLOWANCE) {
      memory.forceCharge(partial - charged);
    } else {
      const full = memory.tryCharge(partial - charged);
      if (full !== undefined) {
        // grpc-js takes no more of the stream (what Node still buffers is
        // bounded by the stream's window) and lets go of the frame.
        over = true;
        internals.stream.pause();
        internals.dropPartialMessage();
        memory.release(charged);
        charged = 0;
        refused(memoryExhausted(full));
        return;
      }
    }
    charged = partial;
  };
  internals.stream.on("data", onData);
  conn.onClosed(() => {
    internals.stream.off("data", onData);
    memory.release(charged);
    charged = 0;
  });
}

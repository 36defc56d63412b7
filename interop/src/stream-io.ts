import type { Readable, Writable } from "node:stream";

// Message I/O on grpc-js object-mode streams, shared by the direct server
// and client adapters. Reading pulls with `read()` so grpc-js keeps its own
// back-pressure (it reads from HTTP/2 only when asked), and nothing here
// destroys the stream: the call can still send its status afterwards.

/**
 * The messages of `stream` until it ends (or is destroyed). Throws `stop`'s
 * reason once it aborts (the call was cancelled or failed), if given.
 */
export async function* readMessages<T>(stream: Readable, stop: AbortSignal = new AbortController().signal): AsyncGenerator<T> {
  let ended = stream.readableEnded;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  stream.on("readable", notify);
  stream.on("end", onEnd);
  stream.on("close", onEnd);
  stop.addEventListener("abort", notify);
  try {
    for (;;) {
      if (stop.aborted) {
        throw stop.reason;
      }
      const message = stream.read() as T | null;
      if (message !== null) {
        yield message;
        continue;
      }
      if (ended) {
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off("readable", notify);
    stream.off("end", onEnd);
    stream.off("close", onEnd);
    stop.removeEventListener("abort", notify);
  }
}

/** Writes one message, waiting for 'drain' when grpc-js buffers; fails with `stop`'s reason. */
export async function writeMessage(stream: Writable, message: unknown, stop: AbortSignal): Promise<void> {
  if (stop.aborted) {
    throw stop.reason;
  }
  if (stream.write(message)) {
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      stop.removeEventListener("abort", onAbort);
      resolve();
    };
    const onAbort = () => {
      done();
      reject(stop.reason);
    };
    stream.on("drain", done);
    stream.on("close", done);
    stop.addEventListener("abort", onAbort, { once: true });
  });
}

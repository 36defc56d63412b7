import type { Writable } from "node:stream";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";

/**
 * Runs `write` (one write to `stream`, answering whether the stream has
 * room for more) and resolves once the connection took it: at once while
 * the stream's buffer has room, else at its 'drain'. Rejects (CANCELLED)
 * without writing when the stream is gone, or when it closes first — the
 * caller went away.
 */
export function writeWithBackPressure(stream: Writable, write: () => boolean): Promise<void> {
  if (stream.destroyed || stream.writableEnded) {
    return Promise.reject(new TunnelError(Code.CANCELLED, "the caller went away"));
  }
  if (write()) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const settle = (drained: boolean) => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      if (drained) {
        resolve();
      } else {
        reject(new TunnelError(Code.CANCELLED, "the caller went away"));
      }
    };
    const onDrain = () => settle(true);
    const onClose = () => settle(false);
    stream.on("drain", onDrain);
    stream.on("close", onClose);
  });
}

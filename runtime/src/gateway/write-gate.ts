import type { Writable } from "node:stream";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { writeGrpcMessages } from "../transport/grpc-message-writes.js";

/**
 * Writes one chunk (or a gRPC message, with `grpcMessage`) and resolves
 * once the connection took it: at once while the stream's buffer has room,
 * else at its 'drain'. Rejects (CANCELLED) when the stream closes first —
 * the caller went away.
 */
export function writeWithBackPressure(stream: Writable, chunk: Uint8Array, grpcMessage = false): Promise<void> {
  if (stream.destroyed || stream.writableEnded) {
    return Promise.reject(new TunnelError(Code.CANCELLED, "the caller went away"));
  }
  if (grpcMessage ? writeGrpcMessages(stream, [chunk]) : stream.write(chunk)) {
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

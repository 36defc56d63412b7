import type * as grpc from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";

/**
 * The response headers of a tunnel RPC, which decide negotiation. The
 * server sends them at once, so waiting here never waits for a frame.
 * Rejects when the RPC fails first (e.g. UNIMPLEMENTED) or `signal` aborts.
 */
export function awaitResponseHeaders(
  call: grpc.ClientDuplexStream<never, unknown>,
  signal: AbortSignal | undefined,
): Promise<grpc.Metadata> {
  return new Promise((resolve, reject) => {
    const cleanUp = () => {
      call.off("metadata", onMetadata);
      call.off("status", onStatus);
      signal?.removeEventListener("abort", onAbort);
    };
    const onMetadata = (headers: grpc.Metadata) => {
      cleanUp();
      resolve(headers);
    };
    const onStatus = (status: grpc.StatusObject) => {
      cleanUp();
      reject(
        status.code === Code.OK
          ? new TunnelError(Code.UNAVAILABLE, "tunnel RPC ended before it started")
          : new TunnelError(status.code, status.details, { metadata: status.metadata }),
      );
    };
    const onAbort = () => {
      cleanUp();
      reject(TunnelError.from(signal?.reason, Code.CANCELLED));
    };
    call.on("metadata", onMetadata);
    call.on("status", onStatus);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

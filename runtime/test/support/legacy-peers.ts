import * as grpc from "@grpc/grpc-js";
import { NEGOTIATE_HEADER } from "../../src/protocol.js";

/**
 * Emulates a pre-revision-1 network client: hides the negotiation header in
 * both directions, as the Go vectors' legacy scenario did.
 */
export const legacyClientInterceptor: grpc.Interceptor = (options, nextCall) =>
  new grpc.InterceptingCall(nextCall(options), {
    start(metadata, _listener, next) {
      metadata.remove(NEGOTIATE_HEADER);
      next(metadata, {
        onReceiveMetadata(md, nextMd) {
          md.remove(NEGOTIATE_HEADER);
          nextMd(md);
        },
      });
    },
  });

/** Emulates a pre-revision-1 network server: never sees nor sends the header. */
export const legacyServerInterceptor: grpc.ServerInterceptor = (_method, call) =>
  new grpc.ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(md, nextMd) {
          md.remove(NEGOTIATE_HEADER);
          nextMd(md);
        },
      });
    },
    sendMetadata(md, next) {
      md.remove(NEGOTIATE_HEADER);
      next(md);
    },
  });

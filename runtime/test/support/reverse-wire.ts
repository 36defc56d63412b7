/**
 * grpc-js interceptors that watch or alter tunnel RPCs on the wire: record
 * the frames a reverse-tunnel agent sends and receives, and make either end
 * look like a legacy peer that knows nothing of negotiation.
 */
import * as grpc from "@grpc/grpc-js";
import { NEGOTIATE_HEADER } from "../../src/index.js";
import type { ClientToServer, ServerToClient } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";

/** Frames of the agents' reverse tunnels: they send ServerToClient and receive ClientToServer. */
export interface ReverseFrames {
  sent: ServerToClient[];
  received: ClientToServer[];
}

/** A client interceptor recording the frames of every tunnel RPC of the client. */
export function recordFrames(log: ReverseFrames): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, _listener, next) =>
        next(metadata, {
          onReceiveMessage: (message: ClientToServer, nextMessage: (m: ClientToServer) => void) => {
            log.received.push(message);
            nextMessage(message);
          },
        }),
      sendMessage: (message: ServerToClient, next: (m: ServerToClient) => void) => {
        log.sent.push(message);
        next(message);
      },
    });
}

/**
 * A client interceptor that makes this network client a legacy peer: it
 * does not advertise negotiation and never sees the server's advertisement.
 */
export function legacyClient(): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, _listener, next) => {
        metadata.remove(NEGOTIATE_HEADER);
        next(metadata, {
          onReceiveMetadata: (headers: grpc.Metadata, nextHeaders: (md: grpc.Metadata) => void) => {
            headers.remove(NEGOTIATE_HEADER);
            nextHeaders(headers);
          },
        });
      },
    });
}

/**
 * A server interceptor that makes this network server a legacy peer: its
 * handlers never see the client's advertisement and it sends none.
 */
export const legacyServer: grpc.ServerInterceptor = (_method, call) =>
  new grpc.ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMetadata: (metadata, nextMetadata) => {
          metadata.remove(NEGOTIATE_HEADER);
          nextMetadata(metadata);
        },
      }),
    sendMetadata: (metadata, next) => {
      metadata.remove(NEGOTIATE_HEADER);
      next(metadata);
    },
  });

/**
 * A grpc-js interceptor that records the frames a reverse-tunnel agent
 * sends and receives (legacy peers: see legacy-peers.ts).
 */
import * as grpc from "@grpc/grpc-js";
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

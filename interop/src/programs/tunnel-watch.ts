import { isMessage } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { tunnelServiceDefinition } from "@protoc-gen-tunnel/runtime/protocol";
import { ClientToServerSchema, ServerToClientSchema } from "@protoc-gen-tunnel/runtime/tunnelpb";

// The tunnel server side of a tunnel does not choose the protocol revision:
// the tunnel client picks it and names it in every NewStream. The runtime
// does not report it on that side, so the programs read it off the frames,
// from outside the runtime: a wrapper around the TunnelService handler
// (network server, forward tunnels) and a grpc-js client interceptor
// (network client, reverse tunnels).

/** What a watcher reports about one tunnel. */
export interface TunnelWatch {
  /** The tunnel RPC is up (its response headers arrived / it was accepted). */
  onOpen?(peer: string): void;
  /** The tunnel server's Settings frame, when one was sent: the revisions it offers. */
  onSettings?(revisions: number[]): void;
  /** The first NewStream: the revision the tunnel client chose, i.e. the tunnel's revision. */
  onFirstStream?(revision: number, method: string): void;
  /** The tunnel RPC ended. */
  onClose?(): void;
}

type ServicePair = [grpc.ServiceDefinition, grpc.UntypedServiceImplementation];

/**
 * Wraps `handler.service()` so that `watch(peer)` hears about every forward
 * tunnel a client opens. The handler itself is untouched: the wrapper only
 * listens to the frames of the call before handing it over.
 */
export function watchForwardTunnels(service: ServicePair, watch: (peer: string) => TunnelWatch): ServicePair {
  const [definition, impl] = service;
  const openTunnel = impl.openTunnel as grpc.handleBidiStreamingCall<unknown, unknown>;
  const watched: grpc.handleBidiStreamingCall<unknown, unknown> = (call) => {
    const peer = call.getPeer();
    const events = watch(peer);
    let sawStream = false;
    const onFrame = (frame: unknown) => {
      if (!sawStream && isMessage(frame, ClientToServerSchema) && frame.frame.case === "newStream") {
        sawStream = true;
        call.off("data", onFrame);
        events.onFirstStream?.(frame.frame.value.protocolRevision, frame.frame.value.methodName);
      }
    };
    let closed = false;
    const onClose = () => {
      if (!closed) {
        closed = true;
        events.onClose?.();
      }
    };
    call.on("data", onFrame);
    call.once("end", onClose);
    call.once("cancelled", onClose);
    events.onOpen?.(peer);
    openTunnel(call);
  };
  return [definition, { ...impl, openTunnel: watched }];
}

/**
 * A grpc-js client interceptor that reports on the reverse tunnels opened
 * through its client (other calls pass untouched). `watch()` is asked for
 * the callbacks of each new reverse tunnel.
 */
export function reverseTunnelInterceptor(watch: () => TunnelWatch): grpc.Interceptor {
  const path = tunnelServiceDefinition.openReverseTunnel.path;
  return (options, nextCall) => {
    if (options.method_definition.path !== path) {
      return new grpc.InterceptingCall(nextCall(options));
    }
    const events = watch();
    let sentFrame = false;
    let sawStream = false;
    let peer = "";
    const call = nextCall(options);
    return new grpc.InterceptingCall(call, {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveMetadata(headers, forward) {
            peer = call.getPeer();
            events.onOpen?.(peer);
            forward(headers);
          },
          onReceiveMessage(frame, forward) {
            if (!sawStream && isMessage(frame, ClientToServerSchema) && frame.frame.case === "newStream") {
              sawStream = true;
              events.onFirstStream?.(frame.frame.value.protocolRevision, frame.frame.value.methodName);
            }
            forward(frame);
          },
          onReceiveStatus(status, forward) {
            events.onClose?.();
            forward(status);
          },
        });
      },
      sendMessage(frame, next) {
        if (!sentFrame) {
          sentFrame = true;
          if (isMessage(frame, ServerToClientSchema) && frame.frame.case === "settings") {
            events.onSettings?.(frame.frame.value.supportedProtocolRevisions);
          }
        }
        next(frame);
      },
    });
  };
}

/** "[0, 1]" */
export function formatRevisions(revisions: readonly number[]): string {
  return `[${revisions.join(", ")}]`;
}

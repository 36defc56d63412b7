import * as grpc from "@grpc/grpc-js";
import type { ClientToServer, ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import type { UndecodableFrame } from "../engine/frame-conn.js";
import { NEGOTIATE_HEADER, NEGOTIATE_VALUE, OPEN_REVERSE_TUNNEL_PATH, OPEN_TUNNEL_PATH } from "../protocol/constants.js";
import {
  decodeClientToServerDeferringHeaders,
  decodeServerToClient,
  encodeClientToServer,
  encodeServerToClient,
} from "../protocol/frame-codec.js";
import { takeLease } from "./frame-buffers.js";
import { TUNNEL_CLIENT_KEEPALIVE } from "./keepalive.js";

// Never throws: grpc-js would end the RPC without telling the engine.
// Decodes from a plain Uint8Array view of the Buffer (no copy), so bytes
// fields (and the messages reassembled from them) are plain Uint8Arrays, as
// everywhere else in protobuf-es.
function deserializer<Frame>(decode: (bytes: Uint8Array) => Frame): (bytes: Buffer) => Frame | UndecodableFrame {
  return (bytes) => {
    try {
      return decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      return { undecodable: (e as Error).message };
    }
  };
}

// A data frame written by the tunnel's own transport adapters comes with a
// leased buffer to encode into (frame-buffers.ts); any other goes into a
// buffer of its own, so these stay safe for any caller.
export const serializeClientToServer = (frame: ClientToServer): Buffer => encodeClientToServer(frame, takeLease(frame));
export const serializeServerToClient = (frame: ServerToClient): Buffer => encodeServerToClient(frame, takeLease(frame));
// A tunnel server (the only reader of these) decodes a new stream's headers once it passed its checks.
export const deserializeClientToServer = deserializer<ClientToServer>(decodeClientToServerDeferringHeaders);
export const deserializeServerToClient = deserializer<ServerToClient>(decodeServerToClient);

/**
 * One method of `grpctunnel.v1.TunnelService` as grpc-js describes it, with
 * protobuf-es frames: the network client sends `Sent` frames and receives
 * `Received` ones. The deserializers never throw: bytes that do not decode
 * become an UndecodableFrame, which the engine answers with an error.
 */
export interface TunnelMethodDefinition<Sent, Received> {
  /** The HTTP/2 path, e.g. "/grpctunnel.v1.TunnelService/OpenTunnel". */
  readonly path: string;
  /** True: the network client streams frames. */
  readonly requestStream: true;
  /** True: the network server streams frames. */
  readonly responseStream: true;
  /** Encodes a frame of the network client. */
  readonly requestSerialize: (frame: Sent) => Buffer;
  /** Decodes a frame of the network client. */
  readonly requestDeserialize: (bytes: Buffer) => Sent | UndecodableFrame;
  /** Encodes a frame of the network server. */
  readonly responseSerialize: (frame: Received) => Buffer;
  /** Decodes a frame of the network server. */
  readonly responseDeserialize: (bytes: Buffer) => Received | UndecodableFrame;
  /** The method name in the proto, e.g. "OpenTunnel". */
  readonly originalName: string;
}

/**
 * The grpc-js definition of `grpctunnel.v1.TunnelService`. A type, not an
 * interface, so that it is a `grpc.ServiceDefinition` (which has an index signature).
 */
export type TunnelServiceDefinition = {
  /** Forward tunnels: the network client calls services of the network server. */
  readonly openTunnel: TunnelMethodDefinition<ClientToServer, ServerToClient>;
  /** Reverse tunnels: the network server calls services of the network client. */
  readonly openReverseTunnel: TunnelMethodDefinition<ServerToClient, ClientToServer>;
};

/**
 * The grpc-js definition of `grpctunnel.v1.TunnelService`, with protobuf-es
 * frames. Pass it (with an implementation) to `grpc.Server.addService`, or
 * use `TunnelServiceClient` to reach it.
 */
export const tunnelServiceDefinition: TunnelServiceDefinition = {
  openTunnel: {
    path: OPEN_TUNNEL_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: serializeClientToServer,
    requestDeserialize: deserializeClientToServer,
    responseSerialize: serializeServerToClient,
    responseDeserialize: deserializeServerToClient,
    originalName: "OpenTunnel",
  },
  openReverseTunnel: {
    path: OPEN_REVERSE_TUNNEL_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: serializeServerToClient,
    requestDeserialize: deserializeServerToClient,
    responseSerialize: serializeClientToServer,
    responseDeserialize: deserializeClientToServer,
    originalName: "OpenReverseTunnel",
  },
} satisfies grpc.ServiceDefinition;

/** The HTTP/2 window a TunnelServiceClient grants its connection's streams, unless its options say otherwise. */
export const TUNNEL_CLIENT_WINDOW_BYTES = 1024 * 1024;

const FLOW_CONTROL_WINDOW = "grpc-node.flow_control_window";

/** The HTTP/2 stream window of each TunnelServiceClient's connections (grpc-js's own default for other clients). */
const streamWindows = new WeakMap<grpc.Client, number>();

/**
 * A grpc-js client for `grpctunnel.v1.TunnelService` (any `grpc.Client`
 * works with `openTunnel` and `ReverseTunnelServer`). It differs from a plain
 * `grpc.Client` in two ways, options given here winning over both:
 *
 * - HTTP/2 keepalive is on (`TUNNEL_CLIENT_KEEPALIVE`), so that a tunnel
 *   whose connection silently died (a NAT mapping expired, a peer vanished)
 *   fails within 30 s instead of hanging;
 * - its connections grant a 1 MiB HTTP/2 window per stream and for the
 *   connection (`grpc-node.flow_control_window`), not HTTP/2's 65,535
 *   bytes: a tunnel is one HTTP/2 stream, and what the server sends it
 *   (downloads, calls to an agent) would otherwise move one such window
 *   per round trip. A tunnel whose reading is paused is charged the window.
 */
export class TunnelServiceClient extends grpc.Client {
  constructor(address: string, credentials: grpc.ChannelCredentials, options: grpc.ClientOptions = {}) {
    const merged = { ...TUNNEL_CLIENT_KEEPALIVE, [FLOW_CONTROL_WINDOW]: TUNNEL_CLIENT_WINDOW_BYTES, ...options };
    super(address, credentials, merged);
    const window = merged[FLOW_CONTROL_WINDOW];
    if (typeof window === "number" && Number.isInteger(window) && window > 0) {
      streamWindows.set(this, window);
    }
  }
}

/** The HTTP/2 stream window `client`'s connections grant, when it is a TunnelServiceClient that says. */
export function clientStreamWindow(client: grpc.Client): number | undefined {
  return streamWindows.get(client);
}

/** The frame types of each tunnel RPC, from the network client's point of view. */
export type OpenTunnelCall = grpc.ClientDuplexStream<ClientToServer, ServerToClient | UndecodableFrame>;
export type OpenReverseTunnelCall = grpc.ClientDuplexStream<ServerToClient, ClientToServer | UndecodableFrame>;
/** ...and from the network server's. */
export type OpenTunnelServerCall = grpc.ServerDuplexStream<ClientToServer | UndecodableFrame, ServerToClient>;
export type OpenReverseTunnelServerCall = grpc.ServerDuplexStream<ServerToClient | UndecodableFrame, ClientToServer>;

/**
 * The network server always advertises negotiation, at once, before any
 * frame: the client then never waits for a first message to see headers.
 */
export function sendNegotiationHeaders(call: grpc.ServerDuplexStream<unknown, never>): void {
  const headers = new grpc.Metadata();
  headers.set(NEGOTIATE_HEADER, NEGOTIATE_VALUE);
  call.sendMetadata(headers);
}

/** What `grpc.Server.addService` takes for a TunnelService served by these two functions. */
export function tunnelService(
  openTunnel: (call: OpenTunnelServerCall) => void,
  openReverseTunnel: (call: OpenReverseTunnelServerCall) => void,
): [typeof tunnelServiceDefinition, grpc.UntypedServiceImplementation] {
  return [tunnelServiceDefinition, { openTunnel, openReverseTunnel }];
}

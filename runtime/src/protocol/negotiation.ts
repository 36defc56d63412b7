import type { Metadata } from "@grpc/grpc-js";
import { ProtocolRevision, type Settings } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { INITIAL_WINDOW_BYTES, NEGOTIATE_HEADER, NEGOTIATE_VALUE } from "./constants.js";
import { serverFrames } from "./frames.js";

/** The revisions this side speaks: revision 1 only with flow control on. */
export function supportedRevisions(flowControl: boolean): ProtocolRevision[] {
  return flowControl ? [ProtocolRevision.REVISION_ZERO, ProtocolRevision.REVISION_ONE] : [ProtocolRevision.REVISION_ZERO];
}

/** True when `md` advertises revision-1 support (the Go check: first value "on"). */
export function advertisesNegotiation(md: Metadata | undefined): boolean {
  return md?.get(NEGOTIATE_HEADER)[0] === NEGOTIATE_VALUE;
}

/** Adds the negotiation header to tunnel RPC metadata. */
export function advertiseNegotiation(md: Metadata): Metadata {
  md.set(NEGOTIATE_HEADER, NEGOTIATE_VALUE);
  return md;
}

/**
 * The tunnel server's first frame when the peer advertised negotiation,
 * offering `receiveWindowBytes` as each stream's client-to-server window.
 */
export function settingsFrame(flowControl: boolean, receiveWindowBytes: number = INITIAL_WINDOW_BYTES) {
  return serverFrames.settings(supportedRevisions(flowControl), receiveWindowBytes);
}

/**
 * The revision a tunnel client uses given the server's settings: the highest
 * both sides speak (an empty list means revision 0 only). Undefined when
 * there is none in common; the tunnel must then end.
 */
export function chooseRevision(settings: Settings, flowControl: boolean): ProtocolRevision | undefined {
  const common = offeredRevisions(settings).filter((rev) => supportedRevisions(flowControl).includes(rev));
  return common.length === 0 ? undefined : (Math.max(...common) as ProtocolRevision);
}

/** The revisions a Settings frame offers, with "none listed" read as revision 0. */
export function offeredRevisions(settings: Settings): ProtocolRevision[] {
  return settings.supportedProtocolRevisions.length === 0 ? [ProtocolRevision.REVISION_ZERO] : settings.supportedProtocolRevisions;
}

/**
 * Wire constants of grpctunnel.v1 (see docs/protocol.md). These values are part of
 * the contract with the Go reference implementation.
 */

/**
 * The chunk size Go sends. A sending convention, not a receive limit: Go
 * (and this runtime) accept any chunk that fits the window (revision 1) or
 * the message (revision 0). This runtime sends `TunnelLimits.maxChunkBytes`.
 */
export const GO_CHUNK_BYTES = 16_384;

/** The receive window each side advertises for a stream (reference value). */
export const INITIAL_WINDOW_BYTES = 65_536;

/** The largest value a uint32 window can hold. */
export const MAX_WINDOW_BYTES = 0xffff_ffff;

/** Request/response header that advertises revision-1 (negotiation) support. */
export const NEGOTIATE_HEADER = "grpctunnel-negotiate";
/** The value of `NEGOTIATE_HEADER` that advertises it. */
export const NEGOTIATE_VALUE = "on";

/** The stream ID of the tunnel-wide `Settings` frame. */
export const SETTINGS_STREAM_ID = -1n;

/** Full method paths of the tunnel service itself. */
export const OPEN_TUNNEL_PATH = "/grpctunnel.v1.TunnelService/OpenTunnel";
export const OPEN_REVERSE_TUNNEL_PATH = "/grpctunnel.v1.TunnelService/OpenReverseTunnel";

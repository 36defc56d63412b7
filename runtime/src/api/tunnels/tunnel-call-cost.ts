import { Code } from "../../code.js";
import type { TunnelLimits } from "../../engine/limits.js";
import { METADATA_BYTES, METADATA_ENTRY_BYTES, TUNNEL_BYTES } from "../../engine/memory-costs.js";
import { TunnelError } from "../../errors.js";
import { FRAME_HEADROOM } from "../../protocol/headroom.js";
import type { TunnelCaller } from "./tunnel-setup.js";

/** gRPC's default largest message (grpc-js and grpc-go): no peer relies on more, none is refused below it. */
const GRPC_DEFAULT_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The largest tunnel frame (one gRPC message of the tunnel RPC) the runtime
 * accepts with `limits`: a chunk is at most a message (revision 0) or a
 * window (revision 1), with its frame around it; never less than gRPC's
 * default. grpc-js reads no larger message on a tunnel RPC, whatever the
 * server allows its other methods.
 */
export function maxFrameBytes(limits: TunnelLimits): number {
  const chunk = Math.max(limits.maxReceiveMessageBytes, limits.maxReceiveWindowBytes);
  return Math.max(GRPC_DEFAULT_MESSAGE_BYTES, chunk + FRAME_HEADROOM, 2 * limits.maxMetadataBytes);
}

/** A TLS peer certificate as grpc-js keeps it (its DER bytes, parsed fields, chain links): measured under 8 KiB besides the DER. */
const CERTIFICATE_BYTES = 8 * 1024;

/**
 * What a tunnel RPC holds for the tunnel's life, as charged to its budgets:
 * the tunnel itself (TUNNEL_BYTES), its request metadata twice (grpc-js's
 * decoded Metadata, and the header strings it was made of, which its values
 * may still point into), its peer address and auth data. Or the refusal,
 * when its metadata is over `maxMetadataBytes` (counted like HTTP/2: key and
 * value bytes plus 32 per entry).
 */
export function tunnelCallBytes(caller: TunnelCaller, limits: TunnelLimits): number | TunnelError {
  let counted = 0;
  let held = METADATA_BYTES;
  const entries = caller.metadata.toJSON();
  for (const key in entries) {
    for (const value of entries[key]) {
      const length = typeof value === "string" ? value.length : value.byteLength;
      counted += key.length + length + 32;
      held += METADATA_ENTRY_BYTES + 2 * (key.length + length);
    }
  }
  if (counted > limits.maxMetadataBytes) {
    return new TunnelError(
      Code.RESOURCE_EXHAUSTED,
      `tunnel metadata of ${counted} bytes is over the limit maxMetadataBytes (${limits.maxMetadataBytes} bytes)`,
    );
  }
  const certificate = caller.authContext?.sslPeerCertificate;
  const auth = certificate === undefined ? 0 : CERTIFICATE_BYTES + 2 * (certificate.raw?.byteLength ?? 0);
  return TUNNEL_BYTES + held + 2 * caller.peer.length + auth;
}

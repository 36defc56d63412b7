import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { Metadata } from "@grpc/grpc-js";
import type { AuthContext } from "../engine/auth-context.js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { parseTimeout } from "../protocol/timeout.js";

/**
 * Request headers that belong to HTTP or to the gRPC, gRPC-Web and Connect
 * protocols themselves, not to the call: the gateway speaks those
 * protocols with the caller and the tunnel protocol with the agent.
 */
const PROTOCOL_HEADERS = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "te",
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "accept-encoding",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-content-encoding",
  "connect-accept-encoding",
  "x-grpc-web",
]);

/** Response metadata keys the gateway writes itself. */
const RESERVED_RESPONSE = new Set(["content-type", "content-length", "grpc-status", "grpc-message", "grpc-status-details-bin", "te"]);

/** A call's metadata from its HTTP request headers (`-bin` values decoded, protocol headers left out). */
export function requestMetadata(headers: IncomingHttpHeaders): Metadata {
  const call: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(":") && !PROTOCOL_HEADERS.has(name)) {
      call[name] = value;
    }
  }
  return Metadata.fromHttp2Headers(call);
}

/** HTTP headers for response metadata (`-bin` values in base64), without the keys the gateway sets. */
export function responseHeaders(metadata: Metadata, prefix = ""): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(metadata.toHttp2Headers())) {
    if (!RESERVED_RESPONSE.has(name) && value !== undefined) {
      out[prefix + name] = value;
    }
  }
  return out;
}

/** The absolute deadline a relative timeout (ms) names, if any. */
function deadlineIn(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Date.now() + ms;
}

/** The deadline of a gRPC or gRPC-Web request (`grpc-timeout`); INVALID_ARGUMENT when malformed. */
export function grpcDeadline(headers: IncomingHttpHeaders): number | undefined {
  const value = headers["grpc-timeout"];
  if (value === undefined) {
    return undefined;
  }
  const ms = typeof value === "string" ? parseTimeout(value) : undefined;
  if (ms === undefined) {
    throw new TunnelError(Code.INVALID_ARGUMENT, `malformed grpc-timeout header ${JSON.stringify(value)}`);
  }
  return deadlineIn(ms);
}

/** The deadline of a Connect request (`connect-timeout-ms`, at most 10 digits); INVALID_ARGUMENT when malformed. */
export function connectDeadline(headers: IncomingHttpHeaders): number | undefined {
  const value = headers["connect-timeout-ms"];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== "string" || !/^\d{1,10}$/.test(value)) {
    throw new TunnelError(Code.INVALID_ARGUMENT, `malformed connect-timeout-ms header ${JSON.stringify(value)}`);
  }
  return deadlineIn(Number(value));
}

/** The caller's address and TLS identity, as grpc-js reports them for its own server calls. */
export function callerOf(socket: Socket | TLSSocket | null | undefined): { peer: string; authContext: AuthContext } {
  const peer = socket?.remoteAddress === undefined ? "unknown" : `${socket.remoteAddress}:${socket.remotePort}`;
  const tls = socket !== null && socket !== undefined && "encrypted" in socket && socket.encrypted === true;
  if (!tls) {
    return { peer, authContext: {} };
  }
  const certificate = (socket as TLSSocket).getPeerCertificate();
  return {
    peer,
    authContext: {
      transportSecurityType: "ssl",
      sslPeerCertificate: certificate !== null && Object.keys(certificate).length > 0 ? certificate : undefined,
    },
  };
}

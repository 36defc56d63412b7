import { fromBinary } from "@bufbuild/protobuf";
import { createContextValues, decodeBinaryHeader } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import type { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import type { StreamHandler } from "../engine/server-engine.js";
import type { ServerStream } from "../engine/server-stream.js";
import { TunnelError } from "../errors.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { encodeTimeout, TIMEOUT_HEADER } from "../protocol/timeout.js";
import { tunnelCallInfo } from "./call-info.js";
import { headersToMetadata, metadataToHeaders } from "./convert.js";
import { envelope, unenvelope } from "./envelope.js";

/** Headers of the gRPC protocol itself: they stay between Connect and this adapter. */
const PROTOCOL_HEADERS = new Set([
  "content-type",
  "te",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
]);

/**
 * Serves tunneled calls with one of a Connect router's gRPC handlers: the
 * call becomes the HTTP request a gRPC client would send (metadata as
 * headers, `grpc-timeout` from the deadline, length-prefixed messages), and
 * the handler's response headers, messages and trailer status go back
 * through the tunnel. So Connect runs its own code for everything between
 * bytes and the implementation: its HandlerContext, interceptors, limits
 * and error handling.
 */
export function universalStreamHandler(handler: UniversalHandler): StreamHandler {
  return async (stream) => {
    const response = await handler(universalRequest(stream));
    if (response.status !== 200) {
      throw new TunnelError(Code.INTERNAL, `the Connect handler for ${stream.method} answered HTTP status ${response.status}`);
    }
    stream.responseHeaders.merge(withoutProtocolHeaders(response.header));
    if (response.body !== undefined) {
      for await (const message of unenvelope(response.body)) {
        await stream.send(message);
      }
    }
    const error = trailerStatus(response.trailer ?? new Headers());
    if (error !== undefined) {
      throw error;
    }
    stream.responseTrailers.merge(withoutProtocolHeaders(response.trailer));
  };
}

function universalRequest(stream: ServerStream): UniversalServerRequest {
  const header = metadataToHeaders(stream.metadata);
  header.set("content-type", "application/grpc+proto");
  header.set("te", "trailers");
  if (stream.deadline !== undefined) {
    header.set(TIMEOUT_HEADER, encodeTimeout(stream.deadline.getTime() - Date.now()));
  }
  return {
    httpVersion: "2.0",
    method: "POST",
    // What Connect reports as the handler context's `url`; a tunnel has no host.
    url: `tunnel:${stream.method}`,
    header,
    body: envelope(requests(stream)),
    signal: stream.signal,
    contextValues: createContextValues().set(tunnelCallInfo, {
      tunnelMetadata: stream.tunnelMetadata,
      peer: stream.peer,
      authContext: stream.authContext,
      protocolRevision: stream.protocolRevision,
    }),
  };
}

async function* requests(stream: ServerStream): AsyncGenerator<Uint8Array> {
  for (;;) {
    const message = await stream.read();
    if (message === undefined) {
      return;
    }
    yield message;
  }
}

function withoutProtocolHeaders(headers: Headers | undefined): Metadata {
  const kept = new Headers();
  headers?.forEach((value, key) => {
    if (!PROTOCOL_HEADERS.has(key)) {
      kept.append(key, value);
    }
  });
  return headersToMetadata(kept);
}

/**
 * The error in a gRPC trailer (`grpc-status`, `grpc-message`,
 * `grpc-status-details-bin`), with the other trailers as its metadata;
 * undefined for OK. Details keep their exact type URLs and bytes.
 */
function trailerStatus(trailer: Headers): TunnelError | undefined {
  const status = trailer.get("grpc-status");
  const code = status === null ? Number.NaN : Number(status);
  if (code === Code.OK) {
    return undefined;
  }
  if (!Number.isInteger(code) || code < 0) {
    return new TunnelError(Code.INTERNAL, `the Connect handler sent an invalid grpc-status ${JSON.stringify(status)}`);
  }
  const message = decodeMessage(trailer.get("grpc-message") ?? "");
  const encodedDetails = trailer.get("grpc-status-details-bin");
  let details: TunnelError["details"] = [];
  if (encodedDetails !== null) {
    try {
      details = fromBinary(StatusSchema, decodeBinaryHeader(encodedDetails)).details;
    } catch {
      // unreadable details: the code and message still stand
    }
  }
  return new TunnelError(code, message, { details, metadata: withoutProtocolHeaders(trailer) });
}

/** `grpc-message` is percent-encoded; a malformed one is kept as sent. */
function decodeMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

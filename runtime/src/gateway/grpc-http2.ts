import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { BodyReader } from "./body-reader.js";
import type { FrontDoorCall } from "./front-door.js";
import type { GatewayCore } from "./gateway-core.js";
import { statusTrailers } from "./grpc-status.js";
import { callerOf, grpcDeadline, requestMetadata, responseHeaders } from "./http-metadata.js";
import { writeWithBackPressure } from "./write-gate.js";
import { writeGrpcMessages } from "../transport/grpc-message-writes.js";

/** True for a gRPC request's content type (application/grpc, +proto, +json). */
export function isGrpcContentType(contentType: string): boolean {
  return /^application\/grpc(\+(proto|json))?(;|$)/i.test(contentType);
}

/**
 * The catch-all gRPC front door: a handler for a Node `http2` server's
 * 'stream' event that takes any method, so reflection-driven clients
 * (grpcurl) and clients of services the gateway never heard of work.
 */
export function serveGrpcStream(core: GatewayCore, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on("error", () => {}); // a reset stream's error also closes it, which ends the call
  const contentType = String(headers[constants.HTTP2_HEADER_CONTENT_TYPE] ?? "");
  if (headers[constants.HTTP2_HEADER_METHOD] !== "POST" || !isGrpcContentType(contentType)) {
    stream.respond({ ":status": 415, "content-type": "text/plain" }, { endStream: false });
    stream.end("the tunnel gateway takes gRPC (POST, content-type application/grpc) on this stream\n");
    return;
  }
  const responseType = /\+json/i.test(contentType) ? "application/grpc+json" : "application/grpc";
  const call = new Http2GrpcCall(stream, headers, responseType, core.options.maxMessageBytes);
  let deadline: number | undefined;
  try {
    deadline = grpcDeadline(headers);
  } catch (e) {
    call.end(TunnelError.from(e), new Metadata());
    return;
  }
  call.deadline = deadline;
  core.serve(call);
}

class Http2GrpcCall implements FrontDoorCall {
  readonly info: FrontDoorCall["info"];
  deadline: number | undefined;
  readonly json: boolean;
  private readonly aborted = new AbortController();
  private readonly body: BodyReader;
  private headersSent = false;
  private ended = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    private readonly contentType: string,
    maxBytes: number,
  ) {
    const { peer, authContext } = callerOf(stream.session?.socket);
    this.info = {
      method: String(headers[constants.HTTP2_HEADER_PATH]),
      metadata: requestMetadata(headers),
      protocol: "grpc",
      peer,
      authContext,
    };
    this.json = contentType.endsWith("+json");
    this.body = new BodyReader(stream, maxBytes);
    stream.on("close", () => {
      if (!this.ended) {
        this.aborted.abort(new TunnelError(Code.CANCELLED, "the caller cancelled the call"));
      }
    });
  }

  get signal(): AbortSignal {
    return this.aborted.signal;
  }

  read(): Promise<Uint8Array | undefined> {
    return this.body.message();
  }

  sendHeaders(headers: Metadata): void {
    if (this.headersSent || this.ended || this.stream.destroyed) {
      return;
    }
    this.headersSent = true;
    this.stream.respond(
      { ":status": 200, "content-type": this.contentType, "grpc-accept-encoding": "identity", ...responseHeaders(headers) },
      { waitForTrailers: true },
    );
  }

  send(message: Uint8Array): Promise<void> {
    this.sendHeaders(new Metadata());
    return writeWithBackPressure(this.stream, () => writeGrpcMessages(this.stream, [message]));
  }

  end(error: TunnelError | undefined, trailers: Metadata): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    if (this.stream.destroyed || this.stream.closed) {
      return;
    }
    const status: OutgoingHttpHeaders = statusTrailers(error, trailers);
    if (!this.headersSent) {
      // Trailers-only: one HEADERS frame carries the status.
      this.headersSent = true;
      this.stream.respond({ ":status": 200, "content-type": this.contentType, ...status }, { endStream: true });
      return;
    }
    this.stream.once("wantTrailers", () => this.stream.sendTrailers(status));
    this.stream.end();
  }
}

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { BodyReader, envelope } from "./body-reader.js";
import { connectEndStream, connectErrorJson, connectHttpStatus } from "./connect-wire.js";
import type { FrontDoorCall } from "./front-door.js";
import type { GatewayProtocol } from "./gateway-call.js";
import { statusTrailers } from "./grpc-status.js";
import { callerOf, responseHeaders } from "./http-metadata.js";
import { writeWithBackPressure } from "./write-gate.js";
import { writeGrpcMessages } from "../transport/grpc-message-writes.js";

/** A request as Node's `http`, `https` and `http2` (compatibility API) servers hand it over. */
export type WebRequest = IncomingMessage | Http2ServerRequest;
/** The response that goes with a `WebRequest`. */
export type WebResponse = ServerResponse | Http2ServerResponse;

/** What every web call shares: the request body, the caller going away, headers once. */
abstract class WebCall implements FrontDoorCall {
  readonly info: FrontDoorCall["info"];
  protected readonly body: BodyReader;
  protected ended = false;
  private readonly aborted = new AbortController();
  private headersWritten = false;

  constructor(
    protected readonly res: WebResponse,
    req: WebRequest,
    metadata: Metadata,
    protocol: GatewayProtocol,
    readonly deadline: number | undefined,
    readonly json: boolean,
    protected readonly contentType: string,
    maxBytes: number,
  ) {
    const { peer, authContext } = callerOf(req.socket);
    this.info = { method: (req.url ?? "").split("?")[0]!, metadata, protocol, peer, authContext };
    this.body = new BodyReader(req, maxBytes);
    res.on("close", () => {
      if (!this.ended) {
        this.aborted.abort(new TunnelError(Code.CANCELLED, "the caller went away"));
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
    this.writeHead(200, { ...responseHeaders(headers), "content-type": this.contentType });
  }

  send(message: Uint8Array): Promise<void> {
    this.sendHeaders(new Metadata());
    return writeWithBackPressure(this.res, () => writeGrpcMessages(this.res, [message]));
  }

  abstract end(error: TunnelError | undefined, trailers: Metadata): void;

  /** Marks the call ended; false when it had ended already or the caller is gone. */
  protected ending(): boolean {
    if (this.ended) {
      return false;
    }
    this.ended = true;
    return !this.res.destroyed && !this.res.writableEnded;
  }

  protected writeHead(status: number, headers: OutgoingHttpHeaders): void {
    if (this.headersWritten || this.res.headersSent) {
      return;
    }
    this.headersWritten = true;
    this.res.writeHead(status, headers);
    (this.res as { flushHeaders(): void }).flushHeaders(); // both kinds of response have it (Node's types omit it for HTTP/2)
  }
}

/** gRPC-Web: enveloped messages both ways; the status and trailers in a last, flagged message. */
export class GrpcWebCall extends WebCall {
  end(error: TunnelError | undefined, trailers: Metadata): void {
    if (!this.ending()) {
      return;
    }
    this.writeHead(200, { "content-type": this.contentType });
    let block = "";
    for (const [name, value] of Object.entries(statusTrailers(error, trailers))) {
      for (const v of Array.isArray(value) ? value : [value]) {
        block += `${name}: ${v}\r\n`;
      }
    }
    this.res.end(envelope(0x80, Buffer.from(block, "utf8")));
  }
}

/** Connect streaming: enveloped messages both ways; the end in a flagged JSON message. */
export class ConnectStreamCall extends WebCall {
  end(error: TunnelError | undefined, trailers: Metadata): void {
    if (!this.ending()) {
      return;
    }
    this.writeHead(200, { "content-type": this.contentType });
    this.res.end(envelope(0x02, connectEndStream(error, trailers)));
  }
}

/**
 * Connect unary: the request is the whole body, the response the whole
 * body, and the status an HTTP status (with a JSON error body), so the
 * answer is written once the call has ended: one message of at most the
 * tunnel's message limit waits here.
 */
export class ConnectUnaryCall extends WebCall {
  private requestRead = false;
  private headers = new Metadata();
  private response: Uint8Array | undefined;

  override read(): Promise<Uint8Array | undefined> {
    if (this.requestRead) {
      return Promise.resolve(undefined);
    }
    this.requestRead = true;
    return this.body.all();
  }

  override sendHeaders(headers: Metadata): void {
    this.headers = headers;
  }

  override send(message: Uint8Array): Promise<void> {
    if (this.response !== undefined) {
      return Promise.reject(new TunnelError(Code.INTERNAL, "the agent sent more than one response to a unary call"));
    }
    this.response = message;
    return Promise.resolve();
  }

  end(error: TunnelError | undefined, trailers: Metadata): void {
    if (!this.ending()) {
      return;
    }
    if (error === undefined && this.response === undefined) {
      error = new TunnelError(Code.INTERNAL, "the agent ended a unary call without a response");
    }
    const headers = { ...responseHeaders(this.headers), ...responseHeaders(trailers, "trailer-") };
    if (error !== undefined) {
      this.writeHead(connectHttpStatus(error.code), { ...headers, "content-type": "application/json" });
      this.res.end(JSON.stringify(connectErrorJson(error)));
      return;
    }
    this.writeHead(200, { ...headers, "content-type": this.contentType });
    this.res.end(this.response!);
  }
}

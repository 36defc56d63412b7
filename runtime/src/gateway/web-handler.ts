import { Http2ServerRequest } from "node:http2";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { GatewayCore } from "./gateway-core.js";
import { isGrpcContentType, serveGrpcStream } from "./grpc-http2.js";
import { connectDeadline, grpcDeadline, requestMetadata } from "./http-metadata.js";
import { ConnectStreamCall, ConnectUnaryCall, GrpcWebCall, type WebRequest, type WebResponse } from "./web-calls.js";

/**
 * A Node request handler in `@connectrpc/connect-node`'s shape
 * (`(req, res, next?)`, for `http`, `https` and `http2` servers alike):
 * Connect (unary and streaming, binary and JSON) and gRPC-Web (binary and
 * JSON) for any method path; on an HTTP/2 server also gRPC. A request that
 * is none of those goes to `next` when given (e.g. to serve a web page
 * beside the gateway), else it is answered 415.
 */
export type GatewayRequestHandler = (req: WebRequest, res: WebResponse, next?: () => void) => void;

type WebKind = "grpc-web" | "connect-stream" | "connect-unary";

const CALLS = { "grpc-web": GrpcWebCall, "connect-stream": ConnectStreamCall, "connect-unary": ConnectUnaryCall } as const;

/** The web protocol of a content type (parameters such as charset ignored), its codec, and the response's content type. */
function webKindOf(contentType: string): { kind: WebKind; json: boolean; responseType: string } | undefined {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  let match = /^application\/grpc-web(?:\+(proto|json))?$/.exec(type);
  if (match !== null) {
    const codec = match[1] ?? "proto";
    return { kind: "grpc-web", json: codec === "json", responseType: `application/grpc-web+${codec}` };
  }
  match = /^application\/(connect\+)?(proto|json)$/.exec(type);
  if (match !== null) {
    return { kind: match[1] === undefined ? "connect-unary" : "connect-stream", json: match[2] === "json", responseType: type };
  }
  return undefined;
}

export function gatewayRequestHandler(core: GatewayCore): GatewayRequestHandler {
  return (req, res, next) => {
    const contentType = String(req.headers["content-type"] ?? "");
    if (req instanceof Http2ServerRequest && isGrpcContentType(contentType)) {
      // gRPC is served on the stream itself (trailers-only answers, trailers
      // of its own); the compatibility response, unused, would otherwise
      // answer the stream's 'wantTrailers' with empty trailers of its own.
      req.stream.removeAllListeners("wantTrailers");
      serveGrpcStream(core, req.stream, req.headers);
      return;
    }
    const web = req.method === "POST" ? webKindOf(contentType) : undefined;
    if (web === undefined) {
      if (next !== undefined) {
        next();
      } else {
        res.writeHead(415, { "content-type": "text/plain" });
        res.end("the tunnel gateway takes Connect, gRPC-Web and gRPC requests (POST with their content types)\n");
      }
      return;
    }
    let deadline: number | undefined;
    let refused: TunnelError | undefined;
    try {
      deadline = web.kind === "grpc-web" ? grpcDeadline(req.headers) : connectDeadline(req.headers);
      refuseCompression(req.headers[web.kind === "connect-unary" ? "content-encoding" : "connect-content-encoding"]);
    } catch (e) {
      refused = TunnelError.from(e);
    }
    const protocol = web.kind === "grpc-web" ? "grpc-web" : "connect";
    const metadata = requestMetadata(req.headers);
    const call = new CALLS[web.kind](res, req, metadata, protocol, deadline, web.json, web.responseType, core.options.maxMessageBytes);
    if (refused !== undefined) {
      call.end(refused, new Metadata());
    } else {
      core.serve(call);
    }
  };
}

function refuseCompression(encoding: string | string[] | undefined): void {
  if (encoding !== undefined && encoding !== "identity") {
    throw new TunnelError(Code.UNIMPLEMENTED, `the gateway accepts only uncompressed requests (got encoding ${String(encoding)})`);
  }
}

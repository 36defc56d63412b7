import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import {
  constants,
  createServer as createHttp2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { isGrpcContentType } from "./grpc-http2.js";
import type { GatewayRequestHandler } from "./web-handler.js";

/** Where `TunnelGateway.listen` listens. */
export interface GatewayListenOptions {
  /** The port; 0 (the default) picks a free one. */
  port?: number;
  /** The address to bind; default "127.0.0.1" (pass "0.0.0.0" or "::" to accept other hosts). */
  host?: string;
}

/** A gateway listening on one port for every protocol. */
export interface TunnelGatewayServer {
  /** The port it listens on. */
  readonly port: number;
  /** "host:port", as clients dial it. */
  readonly address: string;
  /** Stops listening and closes every connection (calls still running are cut). */
  close(): Promise<void>;
}

/** The HTTP/2 connection preface's first bytes ("PRI * HTTP/2.0"): HTTP/1.1 has no PRI method. */
const PREFACE = Buffer.from("PRI");

/**
 * One cleartext port for gRPC (HTTP/2 with prior knowledge, as gRPC
 * clients and grpcurl -plaintext connect) and HTTP/1.1 (browsers, curl):
 * each connection's first bytes tell which server takes it.
 */
export async function listenGateway(
  grpcStreamHandler: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void,
  handler: GatewayRequestHandler,
  options: GatewayListenOptions = {},
): Promise<TunnelGatewayServer> {
  // gRPC streams are served as they come; only the others go through Node's
  // compatibility layer (a request and a response object per stream, which
  // gRPC does not use), on a server of their own that never listens.
  const http2: Http2Server = createHttp2Server({});
  const compat: Http2Server = createHttp2Server({}, handler);
  http2.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    if (isGrpcContentType(String(headers[constants.HTTP2_HEADER_CONTENT_TYPE] ?? ""))) {
      grpcStreamHandler(stream, headers);
    } else {
      compat.emit("stream", stream, headers, flags, rawHeaders);
    }
  });
  const http1: HttpServer = createHttpServer(handler);
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  const tcp = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    dispatch(socket, (isHttp2) => (isHttp2 ? http2 : http1).emit("connection", socket));
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(options.port ?? 0, host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const port = (tcp.address() as AddressInfo).port;
  return {
    port,
    address: `${host.includes(":") ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        tcp.close(() => resolve());
        for (const session of sessions) {
          session.destroy();
        }
        http1.closeAllConnections();
        for (const socket of sockets) {
          socket.destroy();
        }
      }),
  };
}

/**
 * Waits for enough of a connection's first bytes to tell HTTP/2 from
 * HTTP/1.1, then hands the socket to that server and those bytes after it.
 */
function dispatch(socket: Socket, handOver: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    if (seen.length < PREFACE.length && PREFACE.subarray(0, seen.length).equals(seen)) {
      return; // could still be either
    }
    socket.off("data", onData);
    socket.pause();
    const isHttp2 = seen.subarray(0, PREFACE.length).equals(PREFACE);
    if (isHttp2) {
      socket.unshift(seen); // an HTTP/2 session first takes what the socket has buffered
      handOver(true);
    } else {
      handOver(false);
      socket.emit("data", seen); // the HTTP/1.1 parser reads the handle directly; these bytes come first
      socket.resume();
    }
  };
  socket.on("data", onData);
}

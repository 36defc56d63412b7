/** A status page on a real node:http server, and clients for it: plain requests and a Server-Sent Events reader. */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { EventLog } from "./events.js";
import type { Cleanup } from "./servers.js";

export async function serveHttp(cleanup: Cleanup, listener: http.RequestListener): Promise<string> {
  const server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(url: string, method = "GET"): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** The `data` of each event of an event stream, parsed as JSON, as they arrive; `ended` once the server ends it. */
export interface EventStream<T> {
  messages: EventLog<T>;
  ended: Promise<void>;
  close(): void;
}

export function eventStream<T>(cleanup: Cleanup, url: string): Promise<EventStream<T> & { headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      const messages = new EventLog<T>();
      res.setEncoding("utf8");
      res.on("data", eventParser(messages));
      const ended = new Promise<void>((done) => res.on("close", done));
      const close = () => req.destroy();
      cleanup.add(close);
      resolve({ messages, ended, close, headers: res.headers });
    });
    req.on("error", reject);
  });
}

/**
 * Reads the text of an event stream chunk by chunk, pushing the `data` of
 * each event, parsed as JSON. (Over a raw socket the response is chunked;
 * each event is written as one chunk, so the chunk sizes are lines of their
 * own and are ignored.)
 */
export function eventParser<T>(messages: EventLog<T>): (chunk: string) => void {
  let buffer = "";
  return (chunk) => {
    buffer += chunk;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6))
        .join("\n");
      if (data !== "") {
        messages.push(JSON.parse(data) as T);
      }
    }
  };
}

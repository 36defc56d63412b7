import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";

const COMMON_HEADERS: OutgoingHttpHeaders = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
};

/** Answers with `body` as JSON (and a newline); nothing but headers for HEAD. */
export function sendJson(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const bytes = Buffer.from(`${JSON.stringify(body)}\n`, "utf8");
  response.writeHead(status, {
    ...COMMON_HEADERS,
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": bytes.length,
  });
  response.end(request.method === "HEAD" ? undefined : bytes);
}

/** The path of a request, without its query. */
export function pathOf(request: IncomingMessage): URL {
  return new URL(request.url ?? "/", "http://fleet.invalid");
}

/** Runs a route; an exception answers 500 (or ends a response already started) instead of taking the server down. */
export function contained(request: IncomingMessage, response: ServerResponse, route: () => void | Promise<void>): void {
  const fail = (e: unknown) => {
    if (!response.headersSent) {
      sendJson(request, response, 500, { error: `${(e as Error)?.message ?? String(e)}` });
    } else {
      response.destroy();
    }
  };
  try {
    const done = route();
    if (done instanceof Promise) {
      done.catch(fail);
    }
  } catch (e) {
    fail(e);
  }
}

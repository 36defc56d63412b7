import type { Context } from "./admin-commands.js";
import { CliError, EXIT } from "./errors.js";
import { printable, println } from "./output.js";

/** Connect's error codes, by their gRPC number. */
const CONNECT_CODES = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/**
 * `call KEY SERVICE/METHOD`: one unary call through a control server's
 * tunnel gateway, as a Connect request in JSON (the gateway converts it with
 * the agent's descriptors, read by reflection through the tunnel).
 */
export async function call(c: Context, key: string, method: string, values: Record<string, unknown>): Promise<number> {
  const gateway = (values.gateway as string | undefined) ?? c.io.env.TUNNELCTL_GATEWAY;
  if (gateway === undefined || gateway === "") {
    throw new CliError(
      "no gateway: give --gateway http://host:port (a control server's tunnel gateway) or set TUNNELCTL_GATEWAY",
      EXIT.usage,
    );
  }
  const path = methodPath(method);
  const body = (values.data as string | undefined) ?? "{}";
  try {
    JSON.parse(body);
  } catch (e) {
    throw new CliError(`--data is not JSON: ${(e as Error).message}`, EXIT.usage);
  }
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "Connect-Protocol-Version": "1",
    "Connect-Timeout-Ms": String(c.g.timeoutMs),
    "tunnel-key": key,
  };
  if (values.wait === true) {
    headers["tunnel-wait-for-ready"] = "true";
  }
  for (const header of (values.header as string[] | undefined) ?? []) {
    const colon = header.indexOf(":");
    if (colon <= 0) {
      throw new CliError(`--header must be "name: value", not ${JSON.stringify(header)}`, EXIT.usage);
    }
    headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
  }
  let response: Response;
  try {
    response = await fetch(new URL(path, gateway), {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.any([AbortSignal.timeout(c.g.timeoutMs + 1_000), c.signal]),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new CliError(`cannot reach the gateway at ${gateway}: ${cause}`, EXIT.unreachable);
  }
  const servedBy = response.headers.get("tunnel-served-by") ?? response.headers.get("trailer-tunnel-served-by");
  const text = await response.text();
  if (response.ok) {
    if (c.g.json) {
      println(c.io.stdout, JSON.stringify({ key, method: path, servedBy, response: JSON.parse(text) as unknown }));
    } else {
      println(c.io.stdout, JSON.stringify(JSON.parse(text), null, 2));
      if (servedBy !== null) println(c.io.stderr, c.style.dim(`served by replica ${printable(servedBy)}`));
    }
    return EXIT.ok;
  }
  const error = connectError(text, response.status);
  if (c.g.json) {
    println(c.io.stdout, JSON.stringify({ key, method: path, servedBy, error }));
  } else {
    println(c.io.stderr, `${c.style.red(error.code)}: ${printable(error.message)}`);
  }
  return EXIT.callFailedBase + Math.max(0, CONNECT_CODES.indexOf(error.code));
}

/** "pkg.Service/Method", "/pkg.Service/Method" or "pkg.Service.Method" as the request path. */
function methodPath(method: string): string {
  let path = method.startsWith("/") ? method.slice(1) : method;
  if (!path.includes("/")) {
    const dot = path.lastIndexOf(".");
    path = dot > 0 ? `${path.slice(0, dot)}/${path.slice(dot + 1)}` : path;
  }
  if (!/^[\w.]+\/\w+$/.test(path)) {
    throw new CliError(`not a method: ${JSON.stringify(method)} (give package.Service/Method)`, EXIT.usage);
  }
  return `/${path}`;
}

/** A Connect error body (or what a non-Connect answer says). */
function connectError(text: string, status: number): { code: string; message: string; details?: unknown } {
  try {
    const parsed = JSON.parse(text) as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof parsed.code === "string" && CONNECT_CODES.includes(parsed.code)) {
      return {
        code: parsed.code,
        message: String(parsed.message ?? ""),
        ...(parsed.details === undefined ? {} : { details: parsed.details }),
      };
    }
  } catch {
    // not a Connect error
  }
  return { code: status === 404 ? "unimplemented" : "unknown", message: `HTTP ${status}: ${text.trim().slice(0, 200)}` };
}

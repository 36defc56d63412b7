import { Metadata } from "@grpc/grpc-js";
import { anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, codeName } from "./code.js";
import { isMetadata } from "./metadata.js";

/** What a TunnelError carries besides its code and message. */
export interface TunnelErrorOptions {
  /** `google.rpc.Status` details, as `google.protobuf.Any` messages. */
  details?: readonly Any[];
  /** Trailers that came with (or should go with) the error. */
  metadata?: Metadata;
  /** The error behind this one (`Error.cause`); it is not sent to the peer. */
  cause?: unknown;
}

// Marks TunnelErrors for `instanceof` across copies of this package: with two
// installed copies (or two bundles), each has its own class, and a plain
// prototype check would fail for errors from the other one.
const brand = Symbol.for("@protoc-gen-tunnel/runtime/TunnelError");

/**
 * The error of a tunneled call, or of a tunnel: a gRPC status code, a
 * message, `google.rpc.Status` details and trailers. Handlers throw it to end
 * a call with a status; callers receive it when a call fails.
 *
 * `instanceof TunnelError` also holds for TunnelErrors made by another copy
 * of this package (as with connect-es's ConnectError).
 */
export class TunnelError extends Error {
  /** Always "TunnelError", also for errors made by another copy of this package. */
  override readonly name = "TunnelError";
  /** The gRPC status code (never OK). */
  readonly code: Code;
  /** The status message without the code prefix that `message` carries. */
  readonly rawMessage: string;
  /** The `google.rpc.Status` details; `findDetails` unpacks those of one type. */
  readonly details: readonly Any[];
  /** The trailers that came with the status (empty if none). */
  readonly metadata: Metadata;

  constructor(code: Code, message: string, options: TunnelErrorOptions = {}) {
    super(`${codeName(code)}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rawMessage = message;
    this.details = options.details ?? [];
    this.metadata = options.metadata ?? new Metadata();
  }

  /** True for TunnelErrors of any copy of this package; subclasses check their prototype as usual. */
  static override [Symbol.hasInstance](value: unknown): value is TunnelError {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof was asked about, maybe a subclass.
    if (this !== TunnelError) {
      // biome-ignore lint/complexity/noThisInStatic: as above.
      return Function.prototype[Symbol.hasInstance].call(this, value);
    }
    return typeof value === "object" && value !== null && (value as { [brand]?: unknown })[brand] === true;
  }

  /**
   * Converts anything thrown into a TunnelError. A TunnelError is returned as
   * is; an AbortSignal reason that is one is unwrapped; anything else gets
   * `fallbackCode` and keeps the original as `cause`. Stack traces are never
   * part of the message, so they cannot leak to a peer.
   *
   * Never throws, whatever `reason` is: a value whose properties, prototype
   * or string conversion throw (`Object.create(null)`, a hostile Proxy, a
   * throwing getter or `toString`) becomes `fallbackCode` with the message
   * "unknown error".
   */
  static from(reason: unknown, fallbackCode: Code = Code.UNKNOWN): TunnelError {
    try {
      return fromThrown(reason, fallbackCode);
    } catch {
      return new TunnelError(fallbackCode, "unknown error", { cause: reason });
    }
  }

  /** Unpacks the details of the given message type. */
  findDetails<Desc extends DescMessage>(schema: Desc): MessageShape<Desc>[] {
    const found: MessageShape<Desc>[] = [];
    for (const any of this.details) {
      const unpacked = anyUnpack(any, schema);
      if (unpacked !== undefined) {
        found.push(unpacked);
      }
    }
    return found;
  }
}

// On the prototype, not each instance: equality checks of errors stay as they were.
Object.defineProperty(TunnelError.prototype, brand, { value: true });

function fromThrown(reason: unknown, fallbackCode: Code): TunnelError {
  if (reason instanceof TunnelError) {
    return isWellFormed(reason) ? reason : new TunnelError(codeOr(reason.code, fallbackCode), textOf(reason.rawMessage), { cause: reason });
  }
  if (isServiceErrorLike(reason)) {
    const metadata = isMetadata(reason.metadata) ? reason.metadata : undefined;
    return new TunnelError(reason.code, reason.details, { metadata, cause: reason });
  }
  if (reason instanceof Error) {
    const message = textOf(reason.message);
    if (reason.name === "AbortError" || reason.name === "TimeoutError") {
      const code = reason.name === "TimeoutError" ? Code.DEADLINE_EXCEEDED : Code.CANCELLED;
      return new TunnelError(code, message, { cause: reason });
    }
    return new TunnelError(fallbackCode, message, { cause: reason });
  }
  return new TunnelError(fallbackCode, String(reason), { cause: reason });
}

/** A TunnelError made by this package (of any copy), not an object that only carries its brand. */
function isWellFormed(error: TunnelError): boolean {
  return (
    typeof error.code === "number" && typeof error.rawMessage === "string" && Array.isArray(error.details) && isMetadata(error.metadata)
  );
}

function codeOr(code: unknown, fallback: Code): Code {
  return typeof code === "number" && Number.isInteger(code) ? code : fallback;
}

function textOf(value: unknown): string {
  return typeof value === "string" ? value : value === undefined ? "" : String(value);
}

/** A grpc-js `ServiceError` or a `StatusObject`-like value. */
function isServiceErrorLike(value: unknown): value is { code: Code; details: string; metadata?: Metadata } {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const candidate = value as { code?: unknown; details?: unknown };
  return typeof candidate.code === "number" && typeof candidate.details === "string";
}

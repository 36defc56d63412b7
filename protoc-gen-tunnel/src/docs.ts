import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { getComments } from "@bufbuild/protoplugin";

/**
 * JSDoc text for a symbol generated from `service`: the proto comments (when
 * `withComments`), then `summary`, the `@generated from` line, and
 * `@deprecated` when the service (or its whole file) is deprecated.
 */
export function serviceDoc(service: DescService, summary: string, withComments: boolean): string {
  const parts: string[] = [];
  if (withComments) {
    const comments = protoComments(service);
    if (comments !== "") {
      parts.push(comments);
    }
  }
  parts.push(summary);
  let tags = `@generated from ${service.toString()}`;
  if (service.deprecated || service.file.deprecated) {
    tags += "\n@deprecated";
  }
  parts.push(tags);
  return parts.join("\n\n");
}

/**
 * JSDoc text for a client member generated from `method`: the proto
 * comments, then `summary` if any, a note when the proto says the method
 * may be repeated (what retries and hedging act on), the `@generated from`
 * line, and `@deprecated` when the method is.
 */
export function methodDoc(method: DescMethod, summary?: string): string {
  const parts: string[] = [];
  const comments = protoComments(method);
  if (comments !== "") {
    parts.push(comments);
  }
  if (summary !== undefined) {
    parts.push(summary);
  }
  const level = idempotencyNames[method.idempotency];
  if (level !== undefined) {
    parts.push(`Safe to repeat (idempotency_level = ${level}): retried or hedged when the client's options ask for it.`);
  }
  let tags = `@generated from ${method.toString()}`;
  if (method.deprecated) {
    tags += "\n@deprecated";
  }
  parts.push(tags);
  return parts.join("\n\n");
}

const idempotencyNames: Partial<Record<MethodOptions_IdempotencyLevel, string>> = {
  [MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS]: "NO_SIDE_EFFECTS",
  [MethodOptions_IdempotencyLevel.IDEMPOTENT]: "IDEMPOTENT",
};

/** Leading and trailing comments of `desc`, one leading space per line removed. */
function protoComments(desc: DescService | DescMethod): string {
  const { leading, trailing } = getComments(desc);
  return [leading, trailing]
    .filter((c): c is string => c !== undefined && c.trim() !== "")
    .map((c) =>
      c
        .replace(/\n$/, "")
        .split("\n")
        .map((line) => (line.startsWith(" ") ? line.slice(1) : line))
        .join("\n"),
    )
    .join("\n\n");
}

import type { DescService } from "@bufbuild/protobuf";
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

/** Leading and trailing comments of `service`, one leading space per line removed. */
function protoComments(service: DescService): string {
  const { leading, trailing } = getComments(service);
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

import { decodeFrame, type Transcript } from "./transcript.js";

/**
 * The largest chunk a checked transcript may hold: the maxChunkBytes the
 * golden sessions pin (so the golden files do not move with the runtime's
 * default); Go sends 16 KiB chunks and accepts any within the window.
 */
export const MAX_CHUNK = 131_072;

/**
 * The protocol rules a transcript of this implementation must follow
 * (docs/protocol.md; "What a reimplementation can check" in runtime/test/vectors/go-reference/README.md).
 * Checked on every recording, so a golden file can never capture a wire
 * format that breaks them.
 */
export function protocolProblems(t: Transcript): string[] {
  const problems: string[] = [];
  const c2s = t.frames.c2s.map((bytes) => decodeFrame("c2s", bytes));
  const s2c = t.frames.s2c.map((bytes) => decodeFrame("s2c", bytes));

  // Settings first, with stream ID -1, when the tunnel client advertised negotiation.
  const advertised = (t.tunnel_kind === "forward" ? t.request_headers : t.response_headers)["grpctunnel-negotiate"]?.[0] === "on";
  const first = s2c[0];
  if (advertised && (first?.frame.case !== "settings" || first.streamId !== -1n || first.frame.value.initialWindowSize !== 65_536)) {
    problems.push(`first s2c frame is not Settings(-1, window 65536): ${first?.frame.case}`);
  }
  if (s2c.slice(advertised ? 1 : 0).some((f) => f.frame.case === "settings")) {
    problems.push("a Settings frame other than the first one");
  }

  // Stream IDs: the first is 1, each next one adds 1.
  const ids = c2s.filter((f) => f.frame.case === "newStream").map((f) => f.streamId);
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== BigInt(i + 1)) {
      problems.push(`new_stream #${i + 1} has ID ${ids[i]}`);
    }
  }

  // Chunks: at most MAX_CHUNK; an envelope and its continuations add up to its size.
  for (const [dir, frames] of [
    ["c2s", c2s],
    ["s2c", s2c],
  ] as const) {
    const remaining = new Map<bigint, number>();
    for (const f of frames) {
      let chunk: Uint8Array | undefined;
      if (f.frame.case === "requestMessage" || f.frame.case === "responseMessage") {
        if ((remaining.get(f.streamId) ?? 0) > 0) {
          problems.push(`${dir} stream ${f.streamId}: new message before the previous one was complete`);
        }
        remaining.set(f.streamId, f.frame.value.size);
        chunk = f.frame.value.data;
      } else if (f.frame.case === "moreRequestData" || f.frame.case === "moreResponseData") {
        chunk = f.frame.value;
      }
      if (chunk !== undefined) {
        const left = (remaining.get(f.streamId) ?? 0) - chunk.length;
        if (chunk.length > MAX_CHUNK || left < 0) {
          problems.push(`${dir} stream ${f.streamId}: chunk of ${chunk.length} bytes (${left + chunk.length} left in the message)`);
        }
        remaining.set(f.streamId, left);
      }
    }
    for (const [id, left] of remaining) {
      if (left !== 0) {
        problems.push(`${dir} stream ${id}: message ended ${left} bytes short`);
      }
    }
  }

  // Each stream: response headers exactly once, before any message and the close; then one close.
  for (const id of ids) {
    const kinds = s2c.filter((f) => f.streamId === id && f.frame.case !== "windowUpdate").map((f) => f.frame.case);
    const closes = kinds.filter((k) => k === "closeStream").length;
    if (kinds[0] !== "responseHeaders" || kinds.filter((k) => k === "responseHeaders").length !== 1) {
      problems.push(`stream ${id}: response headers are not sent exactly once, first (${kinds.join(", ")})`);
    }
    if (closes !== 1 || kinds[kinds.length - 1] !== "closeStream") {
      problems.push(`stream ${id}: does not end with exactly one close_stream (${kinds.join(", ")})`);
    }
  }
  // A successful close_stream has no status and has (empty) trailers, as Go sends it.
  for (const f of s2c) {
    if (f.frame.case === "closeStream" && f.frame.value.status?.code === 0) {
      problems.push(`stream ${f.streamId}: close_stream with an explicit OK status`);
    }
  }
  return problems;
}

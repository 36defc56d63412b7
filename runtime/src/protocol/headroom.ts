// Message bytes allocated with room in front for a data frame's header, so
// a message sent whole becomes its frame in place instead of being copied
// into one. Only buffers made here are marked: the bytes before any other
// Uint8Array may belong to someone else. The mark is taken once, by the
// first frame encoded over the bytes; a second encoding (a replay, or a
// frame written twice) copies as usual, so bytes already handed to the
// transport are never written again.

/** The most a data frame's header takes (stream ID, tags, lengths, size: at most 27 bytes), rounded up. */
export const FRAME_HEADROOM = 32;

const spare = new WeakSet<Uint8Array>();

/** `length` bytes, uninitialised, with FRAME_HEADROOM free bytes before them. */
export function allocWithHeadroom(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(FRAME_HEADROOM + length).subarray(FRAME_HEADROOM);
  spare.add(bytes);
  return bytes;
}

/** True while `bytes` has its free headroom (made by allocWithHeadroom, not yet taken). */
export function hasHeadroom(bytes: Uint8Array): boolean {
  return spare.has(bytes);
}

/** Takes the headroom of `bytes`: true once for a buffer made by allocWithHeadroom, false ever after. */
export function takeHeadroom(bytes: Uint8Array): boolean {
  return spare.delete(bytes);
}

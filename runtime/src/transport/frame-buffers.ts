// Buffers that data frames are encoded into, reused once grpc-js has sent
// the frame. Encoding a chunk into a fresh buffer per frame made the tunnel
// allocate one more message-sized ArrayBuffer per message than plain
// grpc-js does; at bulk rates such allocations are what drives V8's full
// garbage collections (external memory), so reusing them saves more than
// the allocation itself. (A message the runtime serialized with headroom
// and sends whole needs no buffer at all: it is framed in place, see
// protocol/headroom.ts. Leases serve the rest: chunks of split messages,
// and bytes from elsewhere.)
//
// When a buffer is free again: a grpc-js server call copies what the
// serializer returns into its own length-prefixed message at once and
// reports the write done only after HTTP/2 took that message; written past
// grpc-js (batched-stream-writes.ts), HTTP/2 holds the lease itself until
// it calls the write back. Either way the network server's adapter
// (grpc-conn.ts) leases a buffer for a data frame before writing it, the
// serializer (tunnel-service.ts) encodes into the lease, and the write's
// callback returns it. A frame whose callback never
// comes (its call ended) leaves its buffer to the garbage collector; a
// serializer called on a frame without a lease (any other caller)
// allocates as before. Client calls lease nothing: grpc-js reports a client
// write done once its retry layer holds the message, before HTTP/2 sent it.
// Today that is a copy grpc-js made (its compression filter runs first),
// but grpc-js promises nothing about it, and a buffer reused too early would
// corrupt another stream's data without a sound.

/** Frames smaller than this use Node's own allocation (pooled below 4 KiB, 32 KiB from Node 24; cheap up to here). */
const MIN_LEASED_BYTES = 16 * 1024;
/** Larger frames are allocated each time (rare: they are single messages of over 1 MiB). */
const MAX_LEASED_BYTES = 1024 * 1024 + 4096;
/** The most the idle buffers may hold, for the whole process. */
const MAX_IDLE_BYTES = 2 * 1024 * 1024;
/** Buffer sizes are rounded up to this, so frames of similar size share them. */
const GRANULE = 16 * 1024;

const idle: Buffer[] = [];
let idleBytes = 0;
const leases = new WeakMap<object, Buffer>();

/**
 * Leases a buffer of at least `bytes` for encoding `frame`; undefined when
 * the frame is outside the leased sizes. Give it back with `giveBack` once
 * the transport has sent the frame.
 */
export function leaseBuffer(frame: object, bytes: number): Buffer | undefined {
  if (bytes < MIN_LEASED_BYTES || bytes > MAX_LEASED_BYTES) {
    return undefined;
  }
  let buffer: Buffer | undefined;
  // The most recently returned buffer that fits (still in the CPU's caches).
  for (let i = idle.length - 1; i >= 0; i--) {
    if (idle[i].length >= bytes) {
      buffer = i === idle.length - 1 ? idle.pop()! : idle.splice(i, 1)[0];
      idleBytes -= buffer.length;
      break;
    }
  }
  buffer ??= Buffer.allocUnsafeSlow(Math.ceil(bytes / GRANULE) * GRANULE);
  leases.set(frame, buffer);
  return buffer;
}

/** The buffer leased for `frame`, once: a second encoding of the same frame allocates. */
export function takeLease(frame: object): Buffer | undefined {
  const buffer = leases.get(frame);
  if (buffer !== undefined) {
    leases.delete(frame);
  }
  return buffer;
}

/** The transport has sent `frame` (and copied its bytes): its buffer may be reused. */
export function giveBack(frame: object, buffer: Buffer): void {
  leases.delete(frame);
  if (idleBytes + buffer.length > MAX_IDLE_BYTES) {
    return;
  }
  idle.push(buffer);
  idleBytes += buffer.length;
}

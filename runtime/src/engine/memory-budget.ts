import { getHeapStatistics } from "node:v8";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";

/**
 * How many bytes something may hold: a tunnel, the connection under it, the
 * whole process. Budgets form a chain (tunnel → connection → process) and a
 * charge goes up the whole chain, so each level bounds the sum of everything
 * below it, whatever the windows and per-stream limits allow. Counting is a
 * few integer additions per charge.
 *
 * What is charged is memory actually held: buffered message bytes, decoded
 * metadata, frames waiting in the transport, the streams themselves (see
 * memory-costs.ts for the figures).
 */
export class MemoryBudget {
  /** Bytes charged now. */
  used = 0;

  constructor(
    /** The limit's name, for the message of a refusal (e.g. "maxConnectionMemoryBytes"). */
    readonly name: string,
    public limit: number,
    readonly parent?: MemoryBudget,
  ) {}

  /**
   * Charges `bytes` here and to every budget above, unless one of them would
   * go over its limit: then nothing is charged and that budget is returned.
   */
  tryCharge(bytes: number): MemoryBudget | undefined {
    for (let budget: MemoryBudget | undefined = this; budget !== undefined; budget = budget.parent) {
      if (budget.used + bytes > budget.limit) {
        return budget;
      }
    }
    this.forceCharge(bytes);
    return undefined;
  }

  /** Charges memory that is held already and cannot be refused (a frame that must be sent). */
  forceCharge(bytes: number): void {
    for (let budget: MemoryBudget | undefined = this; budget !== undefined; budget = budget.parent) {
      budget.used += bytes;
    }
  }

  release(bytes: number): void {
    for (let budget: MemoryBudget | undefined = this; budget !== undefined; budget = budget.parent) {
      budget.used -= bytes;
    }
  }

  /** A child budget: charges to it count here too. */
  child(name: string, limit: number): MemoryBudget {
    return new MemoryBudget(name, limit, this);
  }
}

/**
 * What one stream holds, charged to its tunnel's budget. Each charge is
 * released once: when that memory is let go (a message read, a send done),
 * or, for whatever is still held, when the stream ends. After the end
 * nothing more is counted: what a stream still has then is dropped or
 * handed to the application.
 */
export class StreamMemory {
  private held = 0;
  private ended = false;

  constructor(private readonly budget: MemoryBudget) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  /** Charges `bytes`; returns the error to fail the stream with when a budget refuses. */
  charge(bytes: number): TunnelError | undefined {
    if (this.ended) {
      return undefined;
    }
    const refused = this.budget.tryCharge(bytes);
    if (refused !== undefined) {
      return memoryExhausted(refused);
    }
    this.held += bytes;
    return undefined;
  }

  release(bytes: number): void {
    if (!this.ended) {
      this.held -= bytes;
      this.budget.release(bytes);
    }
  }

  /** The stream ended: everything it still holds is released, once. */
  end(): void {
    if (!this.ended) {
      this.ended = true;
      this.budget.release(this.held);
      this.held = 0;
    }
  }
}

/** The status of whatever a full budget refused: short, and naming the limit. */
export function memoryExhausted(refusedBy: MemoryBudget): TunnelError {
  return new TunnelError(Code.RESOURCE_EXHAUSTED, `memory limit ${refusedBy.name} (${refusedBy.limit} bytes) reached`);
}

/**
 * The process-wide default: 1 GiB, or half of V8's heap limit when that is
 * smaller (decoded metadata lives on the heap, and running out of heap ends
 * the process).
 */
export const DEFAULT_PROCESS_MEMORY_BYTES = Math.min(1024 ** 3, Math.floor(getHeapStatistics().heap_size_limit / 2));

/** The root of every chain: all tunnels of this copy of the runtime in this process. */
export const processMemory = new MemoryBudget("setProcessMemoryLimit", DEFAULT_PROCESS_MEMORY_BYTES);

/**
 * Bounds the memory all tunnels of this process may hold together
 * (buffered messages, decoded metadata, frames waiting to be sent, the
 * streams themselves): past it, new streams and tunnels are refused and
 * streams that need more fail, with RESOURCE_EXHAUSTED. The default is
 * 1 GiB, or half of V8's heap limit when that is smaller.
 */
export function setProcessMemoryLimit(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new RangeError(`the process memory limit must be a positive integer (got ${bytes})`);
  }
  processMemory.limit = bytes;
}

/** What `processMemoryUsage` reports. */
export interface ProcessMemoryUsage {
  /** Bytes the tunnels of this process hold now, as charged to their budgets. */
  readonly used: number;
  /** The process-wide limit (`setProcessMemoryLimit`), in bytes. */
  readonly limit: number;
}

/** What the tunnels of this process hold now, and the process-wide limit, in bytes. */
export function processMemoryUsage(): ProcessMemoryUsage {
  return { used: processMemory.used, limit: processMemory.limit };
}

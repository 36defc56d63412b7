/** One figure over the measured rounds. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /**
   * Largest distance of a round from the median, relative to the median
   * (0.05 = every round within ±5 %).
   */
  spread: number;
  /** The value of each round, in round order. */
  samples: number[];
}

/** The q-quantile (0..1) of `values`, interpolating between neighbours. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

export function median(values: ArrayLike<number>): number {
  return quantile(values, 0.5);
}

export function summarize(samples: number[]): Summary {
  const mid = median(samples);
  const min = Math.min(...samples);
  const max = Math.max(...samples);
  const spread = mid === 0 ? 0 : Math.max(max - mid, mid - min) / Math.abs(mid);
  return { median: mid, min, max, spread, samples };
}

/** Records latencies (ms) without growing an array per call. */
export class LatencyRecorder {
  private values = new Float64Array(1024);
  private count = 0;

  add(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = ms;
  }

  get size(): number {
    return this.count;
  }

  quantile(q: number): number {
    return quantile(this.values.subarray(0, this.count), q);
  }
}

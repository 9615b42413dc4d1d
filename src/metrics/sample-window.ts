/** p50, p95, p99 and mean of a series, with how many values it has seen. */
export interface LatencySummary {
  /** Every value observed since the pipeline started. */
  count: number;
  /** Percentiles (nearest rank) and mean over the last `windowSize` values; 0 when there are none. */
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array; 0 when it is empty. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return sorted[rank] ?? 0;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * The last `size` values of a series in a ring buffer: O(1) per value, fixed memory. Percentiles
 * are computed when asked for (a copy of at most `size` values is sorted).
 */
export class SampleWindow {
  readonly #values: Float64Array;
  #next = 0;
  #filled = 0;
  #count = 0;

  constructor(readonly size = 2048) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError("SampleWindow: size must be a positive integer.");
    this.#values = new Float64Array(size);
  }

  add(value: number): void {
    if (!Number.isFinite(value)) return;
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.size;
    if (this.#filled < this.size) this.#filled++;
    this.#count++;
  }

  /** Values observed since the start (not only those still in the window). */
  get count(): number {
    return this.#count;
  }

  /** Values in the window. */
  get length(): number {
    return this.#filled;
  }

  /** The window's values, ascending. */
  sorted(): Float64Array {
    return this.#values.slice(0, this.#filled).sort();
  }

  percentile(p: number): number {
    return nearestRank(this.sorted(), p);
  }

  summary(): LatencySummary {
    const sorted = this.sorted();
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: this.#count,
      p50: round3(nearestRank(sorted, 50)),
      p95: round3(nearestRank(sorted, 95)),
      p99: round3(nearestRank(sorted, 99)),
      mean: sorted.length === 0 ? 0 : round3(sum / sorted.length),
    };
  }
}

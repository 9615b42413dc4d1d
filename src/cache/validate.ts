/** Throw a TypeError unless `ttlMs` is a positive finite number. */
export function assertTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TypeError(`TTL must be a positive number of milliseconds, got ${String(ttlMs)}.`);
  }
}

/** A cache TTL option a store takes, or 0 (not cached): a finite number of ms, 0 or more. */
export const isTtlOption = (value: unknown): boolean => typeof value === "number" && Number.isFinite(value) && value >= 0;

/** Throw a TypeError unless `ttlMs` is a positive finite number. */
export function assertTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TypeError(`TTL must be a positive number of milliseconds, got ${String(ttlMs)}.`);
  }
}

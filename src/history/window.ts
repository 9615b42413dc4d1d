/**
 * The first position of a history window of at most `max` messages over a thread of `total`
 * messages, moved in steps of `step`: the start stays put for several turns (the prompt prefix
 * stays byte-identical), then jumps, instead of sliding by one message every turn.
 */
export function windowStart(total: number, max: number, step: number): number {
  if (max <= 0) return total;
  const over = total - max;
  if (over <= 0) return 0;
  const s = Math.max(1, Math.floor(step));
  return Math.ceil(over / s) * s;
}

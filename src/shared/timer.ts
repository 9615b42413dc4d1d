/**
 * The longest delay `setTimeout` and `setInterval` keep: 2^31 − 1 ms, about 24.8 days. A longer
 * one, `Infinity` included, fires after 1 ms (Node prints a `TimeoutOverflowWarning`).
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A delay for `setTimeout`/`setInterval` from an option: capped at {@link MAX_TIMER_MS}, so that a
 * deadline or interval of weeks, or `Infinity`, waits (about 24.8 days) rather than firing at once.
 */
export const timerMs = (ms: number): number => Math.min(ms, MAX_TIMER_MS);

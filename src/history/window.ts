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

/**
 * The first position at or after `from` (before `end`) of a user message: where a window of past
 * messages may start. Never on an assistant's answer (the model would see an answer to a question
 * it is not shown, and chat templates that require turns to alternate from a user turn, Gemma's
 * and Mistral's, refuse it), nor on a tool result (its call would be left out).
 */
export function userStart(messages: ReadonlyArray<{ role: string } | undefined>, from: number, end = messages.length): number {
  let i = from;
  while (i < end && messages[i]?.role !== "user") i++;
  return i;
}

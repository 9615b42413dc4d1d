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
 * messages may start. Not on an assistant's answer (the model would see an answer to a question
 * it is not shown, and chat templates that require turns to alternate from a user turn, Gemma's
 * and Mistral's, refuse it), nor on a tool result (its call would be left out). When no user
 * message follows (a long run of tool calls after the last one), the first message that is not a
 * tool result: the window keeps what it can rather than nothing.
 */
export function userStart(messages: ReadonlyArray<{ role: string } | undefined>, from: number, end = messages.length): number {
  for (let i = from; i < end; i++) if (messages[i]?.role === "user") return i;
  let i = from;
  while (i < end && messages[i]?.role === "tool") i++;
  return i;
}

/**
 * Where a window of past messages that would begin at `start` begins: there when it is a user
 * message; else at the user message that began that exchange (an answer, a run of tool calls and
 * their results go with their question), so that the window holds the exchange whole, one message
 * or a few more than `load`. Only what comes before the start decides it: while the computed
 * start stays put, later turns find the same window start, and the prompt keeps its prefix (moving
 * forward instead, to the next user message, moved the start as soon as a later turn wrote one).
 * With no user message before it (the history read holds none), the first user message from there
 * on, else the first message that is not a tool result.
 */
export function exchangeStart(messages: ReadonlyArray<{ role: string } | undefined>, start: number): number {
  if (messages[start]?.role === "user") return start;
  for (let i = Math.min(start, messages.length) - 1; i >= 0; i--) if (messages[i]?.role === "user") return i;
  return userStart(messages, start);
}

import type { AGUIEvent } from "@ag-ui/core";

const TURNED: unique symbol = Symbol("zoe.loopTurned");

/** Events of the answer itself: once one exists, nothing is held back any more. */
const ANSWER_EVENTS = new Set(["TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "REASONING_START", "TOOL_CALL_START"]);

/**
 * Send the model request before the events that can wait. A warm run prepares its prompt
 * without ever waiting on I/O (cached route, context and history), yielding a dozen events on
 * the way; delivering each (an SSE frame to encode, a UI to update) before the request is sent
 * would delay the model by as much. So the events are held until the model request is out (or
 * the answer starts), then passed on at once, in order. A run that does wait on I/O (a cache
 * round trip, a slow provider) passes them on as soon as the event loop turns, so a UI still
 * shows progress while it waits.
 */
export async function* requestFirst(inner: AsyncGenerator<AGUIEvent>, requested: () => boolean): AsyncGenerator<AGUIEvent> {
  const held: AGUIEvent[] = [];
  let wakeOnTurn: ((t: typeof TURNED) => void) | undefined;
  const turned = new Promise<typeof TURNED>((resolve) => {
    wakeOnTurn = resolve;
  });
  const immediate = setImmediate(() => wakeOnTurn?.(TURNED));
  let pending: Promise<IteratorResult<AGUIEvent>> | undefined;
  try {
    try {
      for (;;) {
        if (requested()) break;
        pending = inner.next();
        const r = await Promise.race([pending, turned]);
        if (r === TURNED) break;
        pending = undefined;
        if (r.done) {
          yield* held;
          return;
        }
        held.push(r.value);
        if (ANSWER_EVENTS.has(r.value.type)) break;
      }
    } catch (error) {
      // The run failed while preparing: what it had said so far comes first, then its end.
      yield* held;
      throw error;
    } finally {
      clearImmediate(immediate);
      wakeOnTurn?.(TURNED); // settled, so that no promise of the run outlives it
    }
    yield* held;
    held.length = 0;
    if (pending) {
      const r = await pending;
      if (r.done) return;
      yield r.value;
    }
    yield* inner;
  } finally {
    // A consumer that leaves early closes the run's stages too (their `finally` blocks stop the model).
    await inner.return(undefined);
  }
}

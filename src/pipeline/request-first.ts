import type { AGUIEvent } from "@ag-ui/core";

const TURNED: unique symbol = Symbol("zoe.loopTurned");

/** Events of the answer itself: once one exists, nothing is held back any more. */
const ANSWER_EVENTS = new Set(["TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "REASONING_START", "TOOL_CALL_START"]);

/** What {@link holdUntilRequested} held: the events, and the step in progress or the end. */
export interface Held {
  /** The events held, in order, to pass on now. */
  events: AGUIEvent[];
  /** The run's next step, still in progress when the event loop turned. */
  next?: Promise<IteratorResult<AGUIEvent>>;
  /** The stages ended while held (a cached answer, a failure is thrown instead). */
  done: boolean;
}

/**
 * Send the model request before the events that can wait. A warm run prepares its prompt
 * without ever waiting on I/O (cached route, context and history), producing a dozen events on
 * the way; delivering each (an SSE frame to encode, a UI to update) before the request is sent
 * would delay the model by as much. So the run's first events are held until the model request
 * has been handed to the backend (or the answer starts), then passed on at once, in order. A run
 * that does wait on I/O (a cache round trip, a slow provider) stops holding as soon as the event
 * loop turns, so a UI still shows progress while it waits.
 *
 * A failure while holding is thrown with the held events attached (`heldEvents`), so that they
 * still reach the stream before its end.
 */
export async function holdUntilRequested(inner: AsyncIterator<AGUIEvent>, requested: () => boolean): Promise<Held> {
  const events: AGUIEvent[] = [];
  let wakeOnTurn: ((t: typeof TURNED) => void) | undefined;
  const turned = new Promise<typeof TURNED>((resolve) => {
    wakeOnTurn = resolve;
  });
  const immediate = setImmediate(() => wakeOnTurn?.(TURNED));
  try {
    while (!requested()) {
      const next = inner.next();
      const r = await Promise.race([next, turned]);
      if (r === TURNED) return { events, next, done: false };
      if (r.done) return { events, done: true };
      events.push(r.value);
      if (ANSWER_EVENTS.has(r.value.type)) break;
    }
    return { events, done: false };
  } catch (error) {
    throw new HeldFailure(error, events);
  } finally {
    clearImmediate(immediate);
    wakeOnTurn?.(TURNED); // settled, so that no promise of the run outlives it
  }
}

/** A failure of the stages while their first events were held: the failure, and those events. */
export class HeldFailure {
  constructor(
    readonly error: unknown,
    readonly heldEvents: AGUIEvent[],
  ) {}
}

import { enforceEvents, verifyEvents, type BaseEvent } from "@ag-ui/client";
import type { AGUIEvent } from "@ag-ui/core";
import { from, lastValueFrom, toArray } from "rxjs";
import { expect } from "vitest";

/** Drain an event stream. */
export async function collect(stream: AsyncIterable<AGUIEvent>): Promise<AGUIEvent[]> {
  const out: AGUIEvent[] = [];
  for await (const event of stream) out.push(event);
  return out;
}

/**
 * Judge a stream with the real @ag-ui/client: every event passes the protocol schemas
 * (`enforceEvents`, which must not need to strip anything) and the sequence passes
 * `verifyEvents`. The stream must end with exactly one RUN_FINISHED or RUN_ERROR.
 */
export async function expectValidStream(events: AGUIEvent[]): Promise<void> {
  const checked = await lastValueFrom(from(events as BaseEvent[]).pipe(enforceEvents(), verifyEvents(), toArray()));
  expect(checked).toEqual(events);
  const terminals = events.filter((e) => e.type === "RUN_FINISHED" || e.type === "RUN_ERROR");
  expect(terminals).toHaveLength(1);
  expect(events.at(-1)).toBe(terminals[0]);
}

/** Collect and judge a stream in one go. */
export async function runValid(stream: AsyncIterable<AGUIEvent>): Promise<AGUIEvent[]> {
  const events = await collect(stream);
  await expectValidStream(events);
  return events;
}

/** The concatenated text of all TEXT_MESSAGE_CONTENT events. */
export const textOf = (events: AGUIEvent[]): string => events.map((e) => (e.type === "TEXT_MESSAGE_CONTENT" ? e.delta : "")).join("");

/** The one terminal event. */
export const terminal = (events: AGUIEvent[]) => events.at(-1)!;

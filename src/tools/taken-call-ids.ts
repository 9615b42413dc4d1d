import type { Message } from "@ag-ui/core";
import type { HistoryEntry } from "../history/types.js";

/**
 * The tool-call ids a conversation already holds (the client's messages, the stored history), or
 * undefined when it holds none. A call the model makes in this run must not reuse one:
 * `@ag-ui/client` applies a `TOOL_CALL_START` whose id it knows to that earlier call (the new
 * arguments are appended to the old ones), and a result names its call by id. Models and servers
 * that number calls per answer (`call_0`) repeat ids from one turn to the next.
 */
export function takenCallIds(messages: readonly Message[], stored: readonly HistoryEntry[]): Set<string> | undefined {
  let ids: Set<string> | undefined;
  for (const m of messages) {
    if (m.role === "assistant" && m.toolCalls) for (const call of m.toolCalls) (ids ??= new Set()).add(call.id);
    else if (m.role === "tool") (ids ??= new Set()).add(m.toolCallId);
  }
  for (const e of stored) if (e.toolCalls) for (const call of e.toolCalls) (ids ??= new Set()).add(call.id);
  return ids;
}

import { newId } from "../shared/new-id.js";
import type { AGUIEvent } from "@ag-ui/core";
import { events } from "../events/factory.js";
import type { HistoryEntry, HistoryOptions } from "../history/types.js";
import type { Turn } from "../input/types.js";
import { abortReason } from "../shared/abort.js";
import type { OpenMessages } from "../pipeline/stream-step.js";
import { conversationToMessages, historyToMessages, windowEntries } from "../prompt/conversation.js";

/**
 * The text to embed for the semantic cache, or undefined when the turn is not eligible: a turn
 * whose prompt carries history is skipped unless `includeHistory` (then the history's text is
 * embedded with the question, so that a follow-up only matches the same conversation). Computed
 * the same way as the prompt's history, right after the batched cache read.
 */
export function semanticText(
  turn: Turn,
  storedHistory: readonly HistoryEntry[],
  settings: Required<HistoryOptions>,
  includeHistory: boolean,
): string | undefined {
  const fromInput = turn.messages.length > 1;
  const { history, trailing } = fromInput
    ? conversationToMessages(turn.messages, turn.userMessageId, [...storedHistory], settings.load, settings.step)
    : { history: historyToMessages(windowEntries(storedHistory, settings.load, settings.step)), trailing: [] };
  if (history.length === 0 && trailing.length === 0) return turn.text;
  if (!includeHistory) return undefined;
  return [...history, { role: "user", content: turn.text }, ...trailing].map((m) => `${m.role}: ${m.content}`).join("\n");
}

/** Word-sized pieces of a stored answer (spaces kept), like a model's tokens. */
export function wordChunks(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [text];
}

/**
 * Send a cached answer as a normal text message (START, CONTENT per word). The message is left
 * open in `open`, so the run closes it (END) like a model's answer. Returns when the first
 * token went out and how many chunks were sent.
 */
export function replayAnswer(
  text: string,
  open: OpenMessages,
  signal: AbortSignal,
  out: { send(event: AGUIEvent): void },
): { firstTokenAt: number; chunks: number } {
  if (signal.aborted) throw abortReason(signal);
  const firstTokenAt = performance.now();
  const messageId = newId();
  open.text = messageId;
  open.firstText ??= messageId;
  out.send(events.textStart(messageId));
  let chunks = 0;
  for (const piece of wordChunks(text)) {
    chunks++;
    out.send(events.textContent(messageId, piece));
  }
  return { firstTokenAt, chunks };
}

import { contentToText, type Message } from "@ag-ui/core";
import type { HistoryEntry } from "../history/types.js";
import { exchangeStart, windowStart } from "../history/window.js";
import type { ChatMessage } from "../models/types.js";
import { toolArgumentsOrEmpty } from "../tools/tool-args.js";

/**
 * Stored history entries as prompt messages, replaying exactly what the model saw. An answer's
 * tool calls are not replayed: their results are not stored, and a call without its result is an
 * invalid conversation (OpenAI-style servers refuse it; llama.cpp shows the model a call that
 * returned nothing). The answer's text, written after the results, stands for them.
 */
export function historyToMessages(entries: readonly HistoryEntry[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const e of entries) messages.push({ role: e.role, content: e.sent ?? e.content });
  return messages;
}

/**
 * The stored-history window of a run: at most `load` messages, its start moved in steps. The last
 * entry's `seq` gives the thread's length, and the window is the latest `length − start` entries:
 * it grows by what each turn appends even when earlier numbers repeat (two runs of a thread at
 * once both number their turn from the same read), so the prompt keeps its prefix.
 */
export function windowEntries(entries: readonly HistoryEntry[], load: number, step: number): HistoryEntry[] {
  const last = entries[entries.length - 1];
  if (!last) return [];
  const total = last.seq + 1;
  const size = Math.min(load, total - windowStart(total, load, step));
  return size > 0 ? entries.slice(exchangeStart(entries, Math.max(0, entries.length - size))) : [];
}

/** Messages after the user turn (a continued tool round trip) kept at most: `max(load, this)`. */
export const MIN_TRAILING_MESSAGES = 8;

/**
 * Split a conversation the client sent into history (windowed), the turn, and trailing messages.
 * User messages the store knows (same id and text) are replayed with the exact content the model
 * saw, so that the prompt prefix matches the earlier turn byte for byte.
 *
 * Every message the client sends is bounded: at most `load` before the turn (the window moved in
 * `step`s, and starting on a user message: `exchangeStart`), at most `max(load, 8)` after it (starting at an
 * assistant message, so that tool results keep their call), and each past message's text cut to
 * `maxChars`. An assistant's tool calls are replayed only with their results, and a result only
 * with its call ({@link pairToolCalls}).
 */
export function conversationToMessages(
  messages: readonly Message[],
  turnId: string,
  stored: readonly HistoryEntry[],
  load: number,
  step: number,
  maxChars = Number.POSITIVE_INFINITY,
): { history: ChatMessage[]; trailing: ChatMessage[] } {
  const turnIndex = messages.findIndex((m) => m.id === turnId && m.role === "user");
  const before = turnIndex < 0 ? messages : messages.slice(0, turnIndex);
  const after = turnIndex < 0 ? [] : messages.slice(turnIndex + 1);
  const sent = new Map(stored.filter((e) => e.sent !== undefined).map((e) => [e.id, e]));
  const start = exchangeStart(before, windowStart(before.length, load, step));
  const toolNames = new Map(
    messages.flatMap((m) => (m.role === "assistant" ? (m.toolCalls ?? []).map((c) => [c.id, c.function.name] as const) : [])),
  );
  const convert = (m: Message, { answered, results }: ToolPairs): ChatMessage | undefined => {
    switch (m.role) {
      case "user": {
        const text = contentToText(m.content);
        const known = sent.get(m.id);
        return { role: "user", content: known && known.content === text && known.sent ? known.sent : text };
      }
      case "assistant": {
        const answeredHere = answered.get(m);
        const calls = answeredHere ? (m.toolCalls?.filter((c) => answeredHere.has(c.id)) ?? []) : [];
        return {
          role: "assistant",
          content: m.content ?? "",
          ...(calls.length
            ? {
                tool_calls: calls.map((c) => ({
                  id: c.id,
                  function: { name: c.function.name, arguments: toolArgumentsOrEmpty(c.function.arguments) },
                })),
              }
            : {}),
        };
      }
      case "tool": {
        if (!results.has(m)) return undefined;
        // A result names its call and that call's tool, as Ollama's renderers expect.
        const name = toolNames.get(m.toolCallId);
        return {
          role: "tool",
          content: contentToText(m.content),
          ...(name === undefined ? {} : { tool_name: name }),
          tool_call_id: m.toolCallId,
        };
      }
      default:
        // System, developer, activity and reasoning messages from the client are not replayed:
        // the pipeline owns the system prompt, which keeps the prompt prefix stable.
        return undefined;
    }
  };
  const keep = (list: readonly Message[]): ChatMessage[] => {
    // Paired within the part that is sent: a call the window left out takes its result with it.
    const pairs = pairToolCalls(list);
    const out: ChatMessage[] = [];
    for (const m of list) {
      const message = convert(m, pairs);
      if (message === undefined) continue;
      const previous = out[out.length - 1];
      // One answer that the client split into several assistant messages (AG-UI clients make one
      // per tool call without a parent message, and one for text after a call) is one message
      // again, as the model wrote it: its results then follow the message that made the calls.
      if (message.role === "assistant" && previous?.role === "assistant") out[out.length - 1] = mergeAssistant(previous, message);
      else out.push(message);
    }
    return out.map((m) => (m.content.length > maxChars ? { ...m, content: `${m.content.slice(0, maxChars)}…` } : m));
  };
  return { history: keep(before.slice(start)), trailing: keep(trailingWindow(after, Math.max(load, MIN_TRAILING_MESSAGES))) };
}

/** Two assistant messages in a row as one: the texts in order, then the calls in order. */
function mergeAssistant(first: ChatMessage, second: ChatMessage): ChatMessage {
  const calls = [...(first.tool_calls ?? []), ...(second.tool_calls ?? [])];
  return { role: "assistant", content: first.content + second.content, ...(calls.length ? { tool_calls: calls } : {}) };
}

/** Which calls of each assistant message are answered, and which results answer a call. */
interface ToolPairs {
  answered: Map<Message, Set<string>>;
  results: Set<Message>;
}

/**
 * Which tool results answer a call, and which calls are answered, as OpenAI-style servers take a
 * conversation: a `tool` message answers a call of the assistant messages it follows (assistant
 * messages in a row count as one answer; only other results, or messages that are not replayed,
 * in between), once. A result that answers nothing (an id never issued, a second answer, one
 * after a user message) is not replayed, and a call without its result is not either: either
 * would make a conversation the server refuses.
 */
function pairToolCalls(messages: readonly Message[]): ToolPairs {
  const answered = new Map<Message, Set<string>>();
  const results = new Set<Message>();
  let open: Set<string> | undefined;
  let answeredHere: Set<string> | undefined;
  /** The last message that is replayed was an assistant's: the next one belongs to the same answer. */
  let inAnswer = false;
  for (const m of messages) {
    if (m.role === "tool") {
      inAnswer = false;
      if (open?.delete(m.toolCallId)) {
        results.add(m);
        answeredHere?.add(m.toolCallId);
      }
    } else if (m.role === "assistant") {
      if (!inAnswer || !open || !answeredHere) {
        open = new Set();
        answeredHere = new Set();
      }
      for (const call of m.toolCalls ?? []) open.add(call.id);
      answered.set(m, answeredHere);
      inAnswer = true;
    } else if (m.role === "user") {
      open = undefined;
      answeredHere = undefined;
      inAnswer = false;
    }
  }
  return { answered, results };
}

/**
 * At most `max` messages after the turn, starting at an assistant message: the last `max` from
 * their first assistant message; when those are all results (an answer of many tool calls), the
 * answer's last assistant message and the results that follow it, up to `max` (a call whose
 * result is cut is left out with it, see {@link pairToolCalls}).
 */
function trailingWindow(after: readonly Message[], max: number): readonly Message[] {
  if (after.length <= max) return after;
  const from = after.length - max;
  for (let i = from; i < after.length; i++) if (after[i]?.role === "assistant") return after.slice(i);
  for (let i = from - 1; i >= 0; i--) if (after[i]?.role === "assistant") return after.slice(i, i + max);
  return [];
}

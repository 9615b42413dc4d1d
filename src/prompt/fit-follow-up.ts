import { userStart } from "../history/window.js";
import type { ChatMessage } from "../models/types.js";
import { capped } from "../tools/tool-runner.js";
import { messageCost, type TokenCounter } from "./token-count.js";

/** Where a prompt's parts are in its messages. */
export interface FollowUpLayout {
  /** The history between the system prompt and the turn's user message: `[start, end)`. */
  history: readonly [start: number, end: number];
  /** The tool results that may be cut are those from here on (after the turn's user message). */
  resultsFrom: number;
}

/** The messages of a model call, fitted into the prompt budget. */
export interface FittedFollowUp {
  messages: ChatMessage[];
  /** Where the history ends now (the turn's user message). */
  historyEnd: number;
  /** Past messages dropped from the front of the history. */
  droppedHistory: number;
  /** Messages whose text was cut (tool results; as a last resort, assistant text). */
  cutResults: number;
  /** Tokens of the messages, as counted. */
  tokens: number;
}

/** How much of the budget the tool results keep, at least, before the history gives way. */
const RESULTS_SHARE = 1 / 4;

/**
 * A counter that counts each text once: a run's tool steps fit the same messages again after each
 * step, and a backend's tokenizer (llama.cpp's) is synchronous work on the event loop.
 */
export function memoCounter(count: TokenCounter): TokenCounter {
  const counted = new Map<string, number>();
  return (text) => {
    let n = counted.get(text);
    if (n === undefined) {
      n = count(text);
      counted.set(text, n);
    }
    return n;
  };
}

/**
 * Fit the messages of a model call after a tool step (or of a run continued with tool results)
 * into `promptTokens`. The first request of a run is fitted by moving the history window; tool
 * results are not, and one may be 100,000 characters. Sent as they are, a model server cuts what
 * does not fit its own way: Ollama drops messages from the front and keeps at least the last one
 * (`server/prompt.go` `chatPrompt`), so the user's question goes before the result does.
 *
 * Nothing changes when the messages fit (the common case: the model server reuses the whole
 * first request as its cached prefix). Otherwise:
 * 1. the tool results after the user's message are cut, the longest first, down to a quarter of
 *    the budget at least;
 * 2. then the history gives way, oldest first (never starting on a tool result);
 * 3. then the results are cut further, to what is left;
 * 4. then, if still over, the text the assistant wrote after the user's message (a continued run).
 * The system prompt, the user's message and the calls are kept. A result is always cut from its
 * whole text, ends with a note of how much is shown, and is never replaced by something longer.
 */
export function fitFollowUp(
  messages: readonly ChatMessage[],
  layout: FollowUpLayout,
  promptTokens: number,
  count: TokenCounter,
): FittedFollowUp {
  const cost = (m: ChatMessage) => messageCost(m, count);
  const out = [...messages];
  let total = 0;
  for (const m of out) total += cost(m);
  let [start, end] = layout.history;
  let resultsFrom = layout.resultsFrom;
  if (total <= promptTokens) return { messages: out, historyEnd: end, droppedHistory: 0, cutResults: 0, tokens: total };
  let droppedHistory = 0;
  /** The whole text of each result cut, by the message that now holds its cut. */
  const whole = new Map<ChatMessage, string>();

  /** The messages after the user's that may be cut: tool results, and as a last resort the assistant's text too. */
  const cuttable = (andText: boolean) => {
    const at: number[] = [];
    for (let i = resultsFrom; i < out.length; i++) {
      const m = out[i] as ChatMessage;
      if (m.role === "tool" || (andText && m.role === "assistant" && m.content)) at.push(i);
    }
    return at;
  };
  /** Cut those messages so that their texts cost `allowed` tokens at most, the longest first. */
  const cutTo = (allowed: number, andText = false) => {
    const at = cuttable(andText);
    const sizes = at.map((i) => count((out[i] as ChatMessage).content));
    // Each cut adds its note: the notes are paid for out of what the texts may keep.
    const cap = capFor(sizes, Math.max(0, allowed - at.length * NOTE_TOKENS));
    at.forEach((i, k) => {
      const size = sizes[k] as number;
      if (size <= cap) return;
      const m = out[i] as ChatMessage;
      const text = whole.get(m) ?? m.content;
      const content = cutText(text, cap, count, m.role === "tool" ? "result" : "message");
      // Never a "cut" that costs as much as what it replaces.
      if (count(content) >= size) return;
      total += count(content) - size;
      const cut = { ...m, content };
      out[i] = cut;
      whole.delete(m);
      whole.set(cut, text);
    });
  };
  const tokensOf = (andText: boolean) => cuttable(andText).reduce((sum, i) => sum + count((out[i] as ChatMessage).content), 0);

  const all = tokensOf(false);
  cutTo(Math.max(all - (total - promptTokens), Math.min(all, Math.floor(promptTokens * RESULTS_SHARE))));
  while (total > promptTokens && start < end) {
    const next = userStart(out, start + 1, end);
    for (let i = start; i < next; i++) total -= cost(out[i] as ChatMessage);
    out.splice(start, next - start);
    end -= next - start;
    resultsFrom -= next - start;
    droppedHistory += next - start;
  }
  if (total > promptTokens) cutTo(tokensOf(false) - (total - promptTokens));
  // Still over (long text the assistant wrote after the question, in a continued run): that text
  // is cut too rather than leave the server to drop the question.
  if (total > promptTokens) cutTo(tokensOf(true) - (total - promptTokens), true);
  return { messages: out, historyEnd: end, droppedHistory, cutResults: whole.size, tokens: total };
}

/** About what the note a cut ends with costs, in tokens (`capped`'s, with six-digit lengths). */
const NOTE_TOKENS = 20;

/** The largest size `cap` such that the sizes, each capped at it, add up to `allowed` at most. */
function capFor(sizes: readonly number[], allowed: number): number {
  const sorted = [...sizes].sort((a, b) => a - b);
  let left = allowed;
  for (let i = 0; i < sorted.length; i++) {
    const share = Math.floor(left / (sorted.length - i));
    if ((sorted[i] as number) > share) return share;
    left -= sorted[i] as number;
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * `text` cut to `tokens` at most, its end replaced by {@link capped}'s note of how much is shown;
 * the note alone when even that is over `tokens` (the caller keeps whichever is shorter).
 */
function cutText(text: string, tokens: number, count: TokenCounter, what: "result" | "message"): string {
  let chars = Math.floor((text.length * tokens) / Math.max(1, count(text)));
  for (;;) {
    const candidate = capped(text, chars, what);
    const n = count(candidate);
    if (n <= tokens || chars === 0) return candidate;
    // Shrink by how far over it is, a little more: a few counts at most.
    chars = Math.max(0, Math.floor((chars * tokens) / n) - 1);
  }
}

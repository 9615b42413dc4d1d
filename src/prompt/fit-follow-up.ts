import type { ChatMessage } from "../models/types.js";
import { capped } from "../tools/tool-runner.js";
import { MESSAGE_OVERHEAD_TOKENS, type TokenCounter } from "./token-count.js";

/** Where a follow-up's parts are in its messages. */
export interface FollowUpLayout {
  /** The history between the system prompt and the turn's user message: `[start, end)`. */
  history: readonly [start: number, end: number];
  /** The run's own tool calls and results start here (after the first request's messages). */
  resultsFrom: number;
}

/** The messages of a call after a tool step, fitted into the prompt budget. */
export interface FittedFollowUp {
  messages: ChatMessage[];
  /** Where the history ends now (the turn's user message). */
  historyEnd: number;
  /** Past messages dropped from the front of the history. */
  droppedHistory: number;
  /** Tool results whose text was cut. */
  cutResults: number;
}

/** How much of the budget the run's tool results keep, at least, before the history gives way. */
const RESULTS_SHARE = 1 / 4;

/**
 * Fit the messages of a model call after a tool step into `promptTokens`, as the first request of
 * the run was. The first request was fitted by moving the history window; its tool results were
 * not, and one result may be 100,000 characters. Sent as they are, a model server cuts what does
 * not fit its own way: Ollama drops messages from the front and keeps at least the last one
 * (`server/prompt.go` `chatPrompt`), so the user's question goes before the result does.
 *
 * Nothing changes when the messages fit (the common case: the model server reuses the whole
 * first request as its cached prefix). Otherwise:
 * 1. the run's tool results are cut, the longest first, down to a quarter of the budget at least;
 * 2. then the history gives way, oldest first (never starting on a tool result);
 * 3. then the results are cut further, to what is left.
 * The system prompt, the user's message and the calls are kept. A cut result says how much of it is shown.
 */
export function fitFollowUp(
  messages: readonly ChatMessage[],
  layout: FollowUpLayout,
  promptTokens: number,
  count: TokenCounter,
): FittedFollowUp {
  const cost = (m: ChatMessage) =>
    count(m.content) +
    MESSAGE_OVERHEAD_TOKENS +
    (m.thinking ? count(m.thinking) : 0) +
    (m.tool_calls ? count(JSON.stringify(m.tool_calls)) : 0);
  const out = [...messages];
  let total = 0;
  for (const m of out) total += cost(m);
  let [start, end] = layout.history;
  let resultsFrom = layout.resultsFrom;
  if (total <= promptTokens) return { messages: out, historyEnd: end, droppedHistory: 0, cutResults: 0 };
  let droppedHistory = 0;
  /** The results cut, as they are now in `out`. */
  const cutOnes = new Set<ChatMessage>();

  const results = () => {
    const at: number[] = [];
    for (let i = resultsFrom; i < out.length; i++) if (out[i]?.role === "tool") at.push(i);
    return at;
  };
  /** Cut the results so that they cost `allowed` tokens at most, the longest first. */
  const cutResults = (allowed: number) => {
    const at = results();
    const sizes = at.map((i) => count((out[i] as ChatMessage).content));
    const cap = capFor(sizes, Math.max(0, allowed));
    at.forEach((i, k) => {
      if ((sizes[k] as number) <= cap) return;
      const m = out[i] as ChatMessage;
      const content = cutText(m.content, cap, count);
      total += count(content) - (sizes[k] as number);
      out[i] = { ...m, content };
      cutOnes.delete(m);
      cutOnes.add(out[i] as ChatMessage);
    });
  };
  const resultTokens = () => results().reduce((sum, i) => sum + count((out[i] as ChatMessage).content), 0);

  const all = resultTokens();
  cutResults(Math.max(all - (total - promptTokens), Math.min(all, Math.floor(promptTokens * RESULTS_SHARE))));
  while (total > promptTokens && start < end) {
    let next = start + 1;
    // Tool results go with their call: the window never starts on one.
    while (next < end && out[next]?.role === "tool") next++;
    for (let i = start; i < next; i++) total -= cost(out[i] as ChatMessage);
    out.splice(start, next - start);
    end -= next - start;
    resultsFrom -= next - start;
    droppedHistory += next - start;
  }
  if (total > promptTokens) cutResults(resultTokens() - (total - promptTokens));
  return { messages: out, historyEnd: end, droppedHistory, cutResults: cutOnes.size };
}

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

/** `text` cut to `tokens` at most, as a long tool result is ({@link capped}: it says how much is shown). */
function cutText(text: string, tokens: number, count: TokenCounter): string {
  let chars = Math.floor((text.length * tokens) / Math.max(1, count(text)));
  for (;;) {
    const candidate = capped(text, chars);
    if (chars === 0 || count(candidate) <= tokens) return candidate;
    chars = Math.floor(chars * 0.9);
  }
}

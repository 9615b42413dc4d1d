import type { ChatMessage } from "../models/types.js";

/** Counts the tokens of a text for one model. */
export type TokenCounter = (text: string) => number;

/** Characters per token of the estimate used when the backend has no tokenizer (English-like text). */
export const CHARS_PER_TOKEN = 3.5;

/** Tokens a chat template adds around each message (role markers, separators), estimated. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/**
 * What one message costs in a prompt: its text, its reasoning and its tool calls (as JSON), plus
 * the template's overhead. One rule for the first call and those after a tool step.
 */
export function messageCost(m: ChatMessage, count: TokenCounter): number {
  let cost = count(m.content) + MESSAGE_OVERHEAD_TOKENS;
  if (m.thinking) cost += count(m.thinking);
  if (m.tool_calls) cost += count(JSON.stringify(m.tool_calls));
  return cost;
}

/** The documented estimate: characters / 3.5, rounded up. */
export const estimateTokens: TokenCounter = (text) => Math.ceil(text.length / CHARS_PER_TOKEN);

/** A counter that never throws: the estimate stands in when the tokenizer fails. */
export function safeCounter(counter: TokenCounter | undefined): TokenCounter {
  if (!counter) return estimateTokens;
  return (text) => {
    try {
      const n = counter(text);
      return Number.isFinite(n) && n >= 0 ? n : estimateTokens(text);
    } catch {
      return estimateTokens(text);
    }
  };
}

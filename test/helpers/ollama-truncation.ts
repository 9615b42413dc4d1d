/**
 * What Ollama renders for the model when a prompt is longer than its `num_ctx`: `server/prompt.go`
 * `chatPrompt` drops messages from the front until the prompt fits, keeping the system messages
 * and at least the last message (unless the request says `truncate: false`). Without `num_ctx`,
 * the context is 4,096 tokens below about 23 GiB of VRAM (`server/routes.go` `Serve`). The
 * rendered prompt is counted generously: 4 characters per token of its JSON, tools included.
 */
import type { ChatMessage } from "../../src/models/types.js";
import { estimateTokens, messageCost } from "../../src/prompt/token-count.js";

export function keptByOllama<M extends { role: string; content: string }>(
  messages: readonly M[],
  tools: readonly unknown[] = [],
  numCtx = 4_096,
): M[] {
  const tokens = (m: M[]) => Math.ceil(JSON.stringify({ m, tools }).length / 4);
  for (let i = 0; i < messages.length; i++) {
    const candidate = [...messages.slice(0, i).filter((m) => m.role === "system"), ...messages.slice(i)];
    if (tokens(candidate) <= numCtx || i === messages.length - 1) return candidate;
  }
  return [...messages];
}

/** A model request's size as the pipeline budgets it with the estimate: its messages and its tool definitions. */
export const requestTokens = (request: { messages: readonly ChatMessage[]; tools?: readonly unknown[] | undefined }): number =>
  request.messages.reduce((sum, m) => sum + messageCost(m, estimateTokens), 0) +
  (request.tools?.length ? estimateTokens(JSON.stringify(request.tools)) : 0);

import type { ChatRequest, ThinkSetting } from "../models/types.js";

/**
 * How the request's `think` setting is sent (only when the request has one; the pipeline always
 * sets it, `false` by default):
 *
 * - `"chat_template_kwargs"` (default): `chat_template_kwargs: { enable_thinking }`, `true` for
 *   `true` and for every level, `false` for `false`. vLLM and SGLang pass it to the model's chat
 *   template (Qwen3 and most open reasoning models read `enable_thinking`); the llama.cpp server
 *   reads `enable_thinking` from it too. Servers that do not know the field ignore it.
 * - `"reasoning_effort"`: `reasoning_effort: "none" | "low" | "medium" | "high"` (`false` → `"none"`,
 *   `true` → `"medium"`, a level as is): Ollama's `/v1` (openai/openai.go `FromChatRequest` maps it
 *   to Ollama's `think`), OpenAI-style reasoning models.
 * - `"none"`: send nothing (the server's default decides).
 * - a function: the fields to add to the request body for this setting.
 */
export type ThinkFormat =
  | "chat_template_kwargs"
  | "reasoning_effort"
  | "none"
  | ((think: ThinkSetting) => Record<string, unknown> | undefined);

/** Options of {@link openAiCompatibleBackend}. */
export interface OpenAiCompatibleBackendOptions {
  /**
   * The server's OpenAI API root, the part before `/chat/completions`: `http://127.0.0.1:8000/v1`
   * (vLLM), `http://127.0.0.1:8080/v1` (llama.cpp server), `http://127.0.0.1:1234/v1` (LM Studio),
   * `http://127.0.0.1:11434/v1` (Ollama). Required.
   */
  baseURL: string;
  /** Sent as `Authorization: Bearer <apiKey>` (vLLM `--api-key`, llama.cpp `--api-key`). None when empty or undefined. */
  apiKey?: string | undefined;
  /** Headers sent with every request (e.g. a proxy's). */
  headers?: Record<string, string>;
  /** The `fetch` to use. Default: the global `fetch` (Node's undici). */
  fetch?: typeof fetch;
  /**
   * Deadline for the first token of an answer from a model this backend has seen answer (or has
   * pre-warmed), ms: it covers the server's queue and the prompt evaluation. Default 60,000.
   */
  firstTokenTimeoutMs?: number;
  /**
   * Deadline for the first token of a model this backend has not seen answer yet, and for each
   * `prewarm()` request, ms: it covers a model load (LM Studio and Ollama load on demand, the
   * llama.cpp router loads a model on first use). Default 300,000 (Ollama's own load timeout).
   */
  loadTimeoutMs?: number;
  /** Deadline between two events of an answer, and for `/models` and `/embeddings`, ms. Default 30,000. */
  idleTimeoutMs?: number;
  /** How `think` is sent. Default `"chat_template_kwargs"`. See {@link ThinkFormat}. */
  think?: ThinkFormat;
  /**
   * Ask for the usage chunk (`stream_options: { include_usage: true }`), which gives the token
   * counts and the cached prompt tokens. Default true; turn off for a server that rejects
   * `stream_options`.
   */
  includeUsage?: boolean;
  /**
   * Fields added to every chat request body, last (they win), e.g. `{ repetition_penalty: 1.1 }`
   * for vLLM or `{ cache_prompt: true }` for llama.cpp; or a function of the request.
   */
  extraBody?: Record<string, unknown> | ((request: ChatRequest) => Record<string, unknown> | undefined);
  /**
   * The embedding model (e.g. `"nomic-embed-text"`, or the model of a llama.cpp server started with
   * `--embeddings`): with it the backend has `embed()`, on `POST {baseURL}/embeddings`, used by the
   * semantic response cache. Default: none (no `embed()`).
   */
  embedModel?: string;
}

/** Defaults of {@link OpenAiCompatibleBackendOptions}. */
export const OPENAI_COMPATIBLE_DEFAULTS = {
  firstTokenTimeoutMs: 60_000,
  loadTimeoutMs: 300_000,
  idleTimeoutMs: 30_000,
  think: "chat_template_kwargs",
  includeUsage: true,
  /** The prompt of a pre-warm request (answered with one token). */
  prewarmPrompt: "Hi",
  /** The input of a pre-warm embedding. */
  prewarmEmbedInput: "warm-up",
} as const;

/** Check the options once, at creation: bad settings are programming errors. */
export function checkOptions(options: OpenAiCompatibleBackendOptions): URL {
  if (!options || typeof options.baseURL !== "string" || !options.baseURL.trim()) {
    throw new TypeError('openAiCompatibleBackend: `baseURL` is required, e.g. "http://127.0.0.1:8000/v1".');
  }
  let url: URL;
  try {
    url = new URL(options.baseURL.trim());
  } catch {
    throw new TypeError(`openAiCompatibleBackend: \`baseURL\` "${options.baseURL}" is not a URL.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`openAiCompatibleBackend: \`baseURL\` must be http(s), got "${url.protocol}".`);
  }
  for (const name of ["firstTokenTimeoutMs", "loadTimeoutMs", "idleTimeoutMs"] as const) {
    const v = options[name];
    if (v !== undefined && !(typeof v === "number" && v > 0)) {
      throw new RangeError(`openAiCompatibleBackend: \`${name}\` must be a positive number, got ${String(v)}.`);
    }
  }
  const think = options.think;
  if (think !== undefined && typeof think !== "function" && !["chat_template_kwargs", "reasoning_effort", "none"].includes(think)) {
    throw new TypeError(
      `openAiCompatibleBackend: \`think\` must be "chat_template_kwargs", "reasoning_effort", "none" or a function, got ${String(think)}.`,
    );
  }
  return url;
}

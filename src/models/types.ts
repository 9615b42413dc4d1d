import type { RouteOptions } from "../routing/types.js";

/** A tool call the model asked for. */
export interface ChatToolCall {
  id?: string;
  name: string;
  /** Parsed arguments (an object) or their JSON text. */
  arguments: Record<string, unknown> | string;
}

/** One message of the prompt, in the shape Ollama's `/api/chat` takes (`api/types.go` `Message`). */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  /** An assistant message's reasoning, replayed with its tool calls (Ollama's tool-calling docs ask for it). */
  thinking?: string;
  /** An assistant message's tool calls; `id` is the call's id (Ollama ≥ 0.12.10 sends one). */
  tool_calls?: Array<{ id?: string; function: { name: string; arguments: Record<string, unknown> } }>;
  /** A tool result: the name of the tool that produced it. */
  tool_name?: string;
  /** A tool result: the `id` of the call it answers. */
  tool_call_id?: string;
}

/** A tool definition passed to the model (OpenAI / Ollama function shape). */
export interface ChatToolDefinition {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** One generation request. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  options?: RouteOptions;
  tools?: ChatToolDefinition[];
  /** Thinking: off (`false`), on (`true`) or a level, for models that support it. */
  think?: ThinkSetting;
  /** The user the request is for (lets a pool keep one user's threads together). */
  userId?: string;
  /** The conversation thread: a pool keeps a thread on the host that holds its KV prefix. */
  threadId?: string;
  /** Tokens of `messages` as the pipeline counted them (for sizing the model's context). */
  promptTokens?: number;
}

/** Whether a model thinks before it answers: off, on, or one of Ollama's levels. */
export type ThinkSetting = boolean | "low" | "medium" | "high";

/** Timings and counts a backend reports at the end of a generation (all optional). */
export interface ChatDoneInfo {
  /** Prompt tokens in all. */
  inputTokens?: number;
  /** Prompt tokens actually evaluated (fewer than `inputTokens` when a cached prefix was reused). */
  promptEvalTokens?: number;
  outputTokens?: number;
  /** Time the request waited for a free slot of the backend's concurrency limit, ms. */
  queueMs?: number;
  /** Model load time, ms. */
  loadMs?: number;
  /** Prompt evaluation time, ms. */
  promptEvalMs?: number;
  /** Generation (evaluation) time, ms. */
  evalMs?: number;
  doneReason?: string;
  /** The model that answered, when the backend may answer with another (a fallback model). */
  model?: string;
}

/** What a backend streams: text, thinking, tool calls, and a final `done`. */
export type ChatChunk =
  | { type: "text"; text: string }
  | { type: "thinking"; text: string }
  | { type: "tool_call"; call: ChatToolCall }
  | ({ type: "done" } & ChatDoneInfo);

/** Result of warming one model. */
export interface PrewarmResult {
  model: string;
  ok: boolean;
  loadMs: number;
  error?: string;
}

/** A model server or engine. `chat` must stop work promptly when `signal` aborts. */
export interface ModelBackend {
  /** A short name for metrics and logs ("ollama", "llama-cpp", "scripted"). */
  readonly name: string;
  chat(request: ChatRequest, context: { signal: AbortSignal }): AsyncIterable<ChatChunk>;
  /** Load models ahead of use. */
  prewarm?(models: string[]): Promise<PrewarmResult[]>;
  /** Models currently loaded. */
  loaded?(): Promise<string[]>;
  /** Release connections and resources. */
  close?(): Promise<void>;
  /**
   * A token counter for `model` when the backend has its tokenizer at hand (a loaded model), so the
   * pipeline's prompt budget counts real tokens; undefined otherwise (the pipeline estimates).
   */
  tokenCounter?(model: string): ((text: string) => number) | undefined;
  /**
   * The most prompt tokens `model` can take with room left for its answer (its context size less
   * the answer's share), when the backend knows it: the pipeline fits each prompt into the smaller
   * of this and its own `promptTokens`, so that a small context never refuses a thread's prompts.
   */
  promptBudget?(model: string): number | undefined;
  /** Embedding vectors of `input`, one per text, in order (used by the semantic response cache). */
  embed?(input: string[], context: { signal: AbortSignal }): Promise<number[][]>;
}

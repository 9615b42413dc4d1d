/** Types of the fake Ollama server. */

/** A capability of a model, as `server/images.go` `Model.Capabilities` reports them. */
export type FakeCapability = "completion" | "tools" | "thinking" | "embedding" | "vision";

/** One model the fake server has "pulled". */
export interface FakeModel {
  /** The answer text, streamed a word at a time. Default `Hello from <model>.` */
  reply?: string;
  /**
   * Thinking text streamed before the answer (as `message.thinking`) when thinking is on. Setting
   * it gives the model the `thinking` capability.
   */
  thinking?: string;
  /**
   * Capabilities. Default `["completion", "tools"]`, plus `"thinking"` when `thinking` is set. An
   * embedding model is `["embedding"]`.
   */
  capabilities?: FakeCapability[];
  /** Tool calls of the answer. */
  toolCalls?: FakeToolCall[];
  /**
   * Send the tool calls on the final `done: true` chunk (a parser flushing at the end) instead of a
   * chunk of their own (`docs/api.md` "Chat request (Streaming with tools)"). Default true.
   */
  toolCallsOnFinal?: boolean;
  /**
   * Silence before the tool calls, ms: while a model generates a tool call, Ollama's tool parser
   * buffers it and sends nothing (`tools/tools.go` `Parser.Add`). Default 0.
   */
  toolCallGapMs?: number;
  /** Text sent on the `done: true` chunk (the tool parser's buffered text, `routes.go` `ChatHandler`). */
  textOnDone?: string;
  /** Time to load the model when it is not loaded (or must reload), ms. Default 0. */
  loadDelayMs?: number;
  /**
   * Discard a load whose request went away before it finished, as `sched.go` `load()` does
   * (`WaitUntilRunning(req.ctx)`). Default true; false models a server that keeps such a load.
   */
  discardAbortedLoad?: boolean;
  /** Make every load fail with this text (HTTP 500, `handleScheduleError`). */
  loadError?: string;
  /** Training context: `num_ctx` is clamped to it (`sched.go` `effectiveContext`). Default 131072. */
  contextLength?: number;
  /** Prompt evaluation time before the first byte of every answer, ms. Default 0. */
  firstByteDelayMs?: number;
  /** Delay between chunks, ms. Default 0. */
  chunkDelayMs?: number;
  /** `done_reason`. Default `"stop"`. */
  doneReason?: string;
  /** Bytes in memory / in VRAM as `/api/ps` reports. */
  size?: number;
  sizeVram?: number;
  /** Dimensions of `/api/embed` vectors. Default 8. */
  embeddingDims?: number;
}

export interface FakeToolCall {
  id?: string;
  function: { name: string; arguments: Record<string, unknown>; index?: number };
}

/** A step of a scripted answer. */
export type FakeStep =
  | { type: "text"; text: string }
  | { type: "thinking"; text: string }
  | { type: "tool_calls"; calls: FakeToolCall[] }
  /** A raw NDJSON line (an object written as is). */
  | { type: "line"; line: Record<string, unknown> }
  /** The final `done: true` line; `text` goes in its `message.content`; fields override the metrics (all ns). */
  | { type: "done"; fields?: Record<string, unknown>; toolCalls?: FakeToolCall[]; text?: string }
  | { type: "delay"; ms: number }
  /**
   * An error (`routes.go` `streamResponse`): before any output, the HTTP `status` (default 500)
   * with `{"error"}` as JSON; after output, an `{"error"}` line, then the end of the response.
   */
  | { type: "error-line"; error: string; status?: number }
  /** Destroy the socket (the server "crashes"). */
  | { type: "drop" }
  /** End the response without a `done: true` line. */
  | { type: "end" }
  /** Send nothing more until the client goes away. */
  | { type: "hang" }
  /** Answer at once with this status and JSON body (only as the first step; no model load). */
  | { type: "http"; status: number; body?: unknown; contentType?: string };

/** The body of a `/api/chat` request, as received. */
export interface FakeChatBody {
  model?: string;
  messages?: Array<{ role: string; content: string; [key: string]: unknown }>;
  stream?: boolean;
  keep_alive?: string | number;
  options?: Record<string, unknown>;
  tools?: unknown[];
  think?: unknown;
  [key: string]: unknown;
}

/** A request the server received. */
export interface FakeRequest {
  method: string;
  path: string;
  /** The parsed JSON body (undefined for GET or a body that is not JSON). */
  body: FakeChatBody | undefined;
  /** The raw body text. */
  raw: string;
  /** Position among all requests. */
  index: number;
  /** The HTTP status answered (once headers were sent). */
  status?: number;
  /** The client closed the connection before the server finished its answer. */
  closedByClient: boolean;
  /** The server finished its answer. */
  finished: boolean;
  /** Resolves when the connection of this request is closed (by either side). */
  closed: Promise<void>;
}

export interface FakeOllamaOptions {
  /** The models the server has pulled. */
  models?: Record<string, FakeModel>;
  /** Steps for a `/api/chat` request with messages; `undefined` plays the model's default answer. */
  script?: (body: FakeChatBody, context: { model: string; index: number }) => FakeStep[] | undefined;
  /** `OLLAMA_KEEP_ALIVE`: the session of a load without `keep_alive`. Default `"5m"` (`envconfig.KeepAlive`). */
  defaultKeepAlive?: string | number;
  /** `OLLAMA_NUM_PARALLEL`: parallel requests per loaded model. Default 1 (`envconfig.NumParallel`). */
  numParallel?: number;
  /** `OLLAMA_MAX_LOADED_MODELS`. Default 3 (`sched.go` `defaultModelsPerGPU` for one GPU or CPU). */
  maxLoadedModels?: number;
  /** `OLLAMA_MAX_QUEUE`: requests waiting for a load before 503. Default 512 (`envconfig.MaxQueue`). */
  maxQueue?: number;
  /** `num_ctx` when a request sets none (`routes.go` `defaultNumCtx`, 4096 below 23 GiB of VRAM). */
  defaultNumCtx?: number;
  /** Tool calls carry an `id` (`routes.go` `toolCallId`, Ollama ≥ 0.12.10). Default true. */
  toolCallIds?: boolean;
  /** `/api/version`. Default "0.33.0-rc2" (the source the fake follows). */
  version?: string;
  /**
   * The vector `/api/embed` computes for one input (the server L2-normalises it, as
   * `routes.go` `EmbedHandler` does). Default: hashed from the text (`embeddingDims` long).
   */
  embed?: (input: string, context: { model: string }) => number[] | Promise<number[]>;
  /** Delay before `/api/embed` answers, ms (a number, or a function of the inputs). Default 0. */
  embedDelayMs?: number | ((inputs: string[]) => number);
}

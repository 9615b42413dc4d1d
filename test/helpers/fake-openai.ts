/**
 * A fake OpenAI-compatible model server for tests: real HTTP on 127.0.0.1 (random port), modelled
 * on the servers' own source (read, never copied). Each behaviour names the file and function it
 * follows; test/openai-compatible/fake-openai.test.ts checks each one.
 *
 * Flavours:
 * - `"vllm"`: vllm/entrypoints/openai/chat_completion/serving.py
 *   (`OpenAIServingChat.chat_completion_stream_generator`), engine/serving.py
 *   (`create_error_response`, `_check_model`), generate/base/protocol.py (`DeltaMessage`,
 *   `DeltaToolCall`).
 * - `"llama.cpp"`: tools/server/server.cpp (`handle_completions_impl`), server-task.cpp
 *   (`to_json_oaicompat_chat_stream`, `usage_json_oaicompat`), server-chat.cpp
 *   (`server_chat_msg_diff_to_json_oaicompat`), server-common.cpp (`format_error_response`,
 *   `format_oai_sse`). `"llama.cpp-router"` adds the router of server-models.cpp.
 * - `"ollama"`: Ollama's `/v1`, openai/openai.go (`ToChunk`, `ToToolCalls`, `NewError`).
 *
 * Every request is recorded with its parsed body and whether the client closed it before the
 * server finished (`closedByClient`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type FakeFlavor = "vllm" | "llama.cpp" | "llama.cpp-router" | "ollama";

/** A tool call the fake model makes. */
export interface FakeOpenAiToolCall {
  id?: string;
  name: string;
  arguments: Record<string, unknown>;
}

/** One model the server serves. */
export interface FakeOpenAiModel {
  /** The answer, streamed a word at a time. Default `Hello from <model>.` */
  reply?: string;
  /** Reasoning streamed before the answer. */
  reasoning?: string;
  /** Tool calls made after the answer text (streamed as the flavour does). */
  toolCalls?: FakeOpenAiToolCall[];
  /** Time to the first token, ms (vLLM: after the headers; llama.cpp: before them). Default 0. */
  firstTokenDelayMs?: number;
  /** Gap between two chunks, ms. Default 0. */
  chunkDelayMs?: number;
  /** An embedding model: `/embeddings` answers for it. */
  embedding?: boolean;
  /** llama.cpp router: the model's status in `/models` (`"loaded"` by default). */
  status?: "loaded" | "unloaded" | "loading";
}

/** A step of a scripted answer (after any HTTP-level checks). */
export type FakeOpenAiStep =
  | { type: "content"; text: string }
  | { type: "reasoning"; text: string }
  /** A raw tool-call delta, sent as is inside `delta.tool_calls`. */
  | { type: "tool-delta"; delta: Record<string, unknown> }
  /** A raw `data:` JSON object. */
  | { type: "data"; data: unknown }
  | { type: "finish"; reason?: string }
  /** The usage chunk (`choices: []`), when the request asked for it. */
  | { type: "usage" }
  | { type: "done" }
  | { type: "delay"; ms: number }
  /** The flavour's mid-stream error event (then what the flavour sends after it). */
  | { type: "error-event"; message: string }
  /** An old llama.cpp `error:` SSE line, then `data: [DONE]`. */
  | { type: "error-field"; message: string }
  /** Destroy the socket. */
  | { type: "drop" }
  /** End the response here. */
  | { type: "end" }
  /** Send nothing more until the client goes away. */
  | { type: "hang" }
  /** Answer with this status and body instead (only as the first step). */
  | { type: "http"; status: number; body: unknown };

/** A request the server received. */
export interface FakeOpenAiRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown> | undefined;
  index: number;
  status?: number;
  closedByClient: boolean;
  finished: boolean;
  closed: Promise<void>;
}

export interface FakeOpenAiOptions {
  flavor?: FakeFlavor;
  models?: Record<string, FakeOpenAiModel>;
  /** Scripted steps for a chat request; `undefined` plays the model's default answer. */
  script?: (body: Record<string, unknown>, context: { model: string; index: number }) => FakeOpenAiStep[] | undefined;
  /** Require `Authorization: Bearer <apiKey>` (vLLM and llama.cpp `--api-key`). */
  apiKey?: string;
  /** vLLM `--enable-prompt-tokens-details`: the usage chunk has `prompt_tokens_details.cached_tokens`. */
  promptTokensDetails?: boolean;
  /** vLLM before the rename: `reasoning_content` instead of `reasoning`. */
  reasoningField?: "reasoning" | "reasoning_content";
  /** llama.cpp server started with `--embeddings`. Default true. */
  embeddings?: boolean;
  /** The vector for one input. Default: a unit vector hashed from the text (8 dims). */
  embed?: (input: string) => number[];
}

export interface FakeOpenAi {
  url: string;
  /** `url` + `/v1`, the base URL clients use. */
  baseURL: string;
  port: number;
  readonly requests: FakeOpenAiRequest[];
  /** `POST /v1/chat/completions` requests. */
  chats(): FakeOpenAiRequest[];
  /** llama.cpp: the model is loading; every request answers 503 "Loading model". */
  loading: boolean;
  setModel(name: string, model: FakeOpenAiModel): void;
  close(): Promise<void>;
  /** Crash: destroy every connection and stop listening. */
  kill(): Promise<void>;
}

/** Words of a text, spaces kept. */
export const words = (text: string) => text.match(/\S+\s*|\s+/g) ?? [];

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

const rid = () => Math.random().toString(16).slice(2, 14).padEnd(12, "0");
const tokens = (chars: number) => Math.ceil(chars / 4);

/** Start a fake OpenAI-compatible server on a random port of 127.0.0.1. */
export async function startFakeOpenAi(options: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
  const flavor = options.flavor ?? "vllm";
  const llama = flavor === "llama.cpp" || flavor === "llama.cpp-router";
  const models = new Map<string, FakeOpenAiModel>(Object.entries(options.models ?? {}));
  const requests: FakeOpenAiRequest[] = [];
  const sockets = new Set<Socket>();
  /** The last prompt per model: the prefix a KV cache still holds. */
  const lastPrompt = new Map<string, string>();
  const state = { loading: false };

  const sendJson = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
  };

  /** The error body each flavour sends with an HTTP status. */
  function errorBody(status: number, message: string, kind?: string): unknown {
    if (llama) {
      // server-common.cpp `format_error_response`, wrapped as {"error": …} by `res_error`.
      const type =
        kind ??
        (
          {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            501: "not_supported_error",
            503: "unavailable_error",
          } as Record<number, string>
        )[status] ??
        "server_error";
      return { error: { code: status, message, type } };
    }
    if (flavor === "ollama") {
      // openai/openai.go `NewError`: code and param are null.
      const type = status === 400 ? "invalid_request_error" : status === 404 ? "not_found_error" : "api_error";
      return { error: { message, type, param: null, code: null } };
    }
    // vLLM engine/serving.py `create_error_response`: ErrorResponse(error=ErrorInfo(message, type, code, param)).
    const type =
      kind ??
      ({ 400: "BadRequestError", 404: "NotFoundError", 501: "NotImplementedError" } as Record<number, string>)[status] ??
      "InternalServerError";
    return { error: { message, type, param: kind === "NotFoundError" ? "model" : null, code: status } };
  }

  /** The answer to an unknown model, as each server gives it. `undefined`: the server ignores the name. */
  function unknownModel(res: ServerResponse, model: string): boolean {
    switch (flavor) {
      case "vllm":
        // engine/serving.py `_check_model`.
        sendJson(res, 404, errorBody(404, `The model \`${model}\` does not exist.`, "NotFoundError"));
        return true;
      case "llama.cpp-router":
        // server-models.cpp `router_validate_model`: a 400, not a 404.
        sendJson(res, 400, errorBody(400, "model not found"));
        return true;
      case "ollama":
        sendJson(res, 404, errorBody(404, `model "${model}" not found, try pulling it first`));
        return true;
      case "llama.cpp":
        // A single-model llama.cpp server answers whatever `model` says.
        return false;
    }
  }

  function defaultSteps(name: string, spec: FakeOpenAiModel): FakeOpenAiStep[] {
    const steps: FakeOpenAiStep[] = [];
    for (const w of words(spec.reasoning ?? "")) steps.push({ type: "reasoning", text: w });
    for (const w of words(spec.reply ?? `Hello from ${name}.`)) steps.push({ type: "content", text: w });
    (spec.toolCalls ?? []).forEach((call, index) => {
      const args = JSON.stringify(call.arguments);
      const id = call.id ?? (llama ? rid() + rid() : flavor === "ollama" ? `call_${rid()}` : `chatcmpl-tool-${rid()}${rid()}`);
      if (flavor === "ollama") {
        // openai.go `ToToolCalls`: the whole call in one delta.
        steps.push({ type: "tool-delta", delta: { id, index, type: "function", function: { name: call.name, arguments: args } } });
        return;
      }
      // vLLM `DeltaToolCall` / llama.cpp `tool_call_delta`: id + name first, then argument pieces.
      steps.push({
        type: "tool-delta",
        delta: { index, id, type: "function", function: { name: call.name, ...(llama ? {} : { arguments: "" }) } },
      });
      for (let i = 0; i < args.length; i += 7)
        steps.push({ type: "tool-delta", delta: { index, function: { arguments: args.slice(i, i + 7) } } });
    });
    steps.push({ type: "finish" }, { type: "usage" }, { type: "done" });
    if (!spec.chunkDelayMs) return steps;
    return steps.flatMap((s, i) => (i === 0 ? [s] : [{ type: "delay", ms: spec.chunkDelayMs as number } as FakeOpenAiStep, s]));
  }

  async function chat(res: ServerResponse, record: FakeOpenAiRequest, signal: AbortSignal, markDropped: () => void) {
    const body = record.body;
    if (!body || !Array.isArray(body.messages) || body.messages.length === 0) {
      return sendJson(res, 400, errorBody(400, "'messages' must be a non-empty array"));
    }
    const requested = typeof body.model === "string" ? body.model : "";
    if (flavor === "vllm" && body.stream_options && body.stream !== true) {
      // vLLM `validate_stream_options`.
      return sendJson(res, 400, errorBody(400, "Stream options can only be defined when stream is true."));
    }
    let name = requested;
    let spec = models.get(requested);
    if (!spec) {
      if (unknownModel(res, requested)) return;
      [name, spec] = [...models.entries()][0] ?? [requested, {}];
    }
    const scripted = options.script?.(body, { model: name, index: record.index });
    const first = scripted?.[0];
    if (first?.type === "http") return sendJson(res, first.status, first.body);

    const stream = body.stream === true;
    const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const prompt = JSON.stringify(body.messages);
    const previous = lastPrompt.get(name) ?? "";
    let common = 0;
    while (common < prompt.length && common < previous.length && prompt[common] === previous[common]) common++;
    lastPrompt.set(name, prompt);
    const promptTokens = tokens(prompt.length);
    const cachedTokens = Math.min(promptTokens, Math.floor(common / 4));
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-${rid()}`;
    const steps = scripted ?? defaultSteps(name, spec);
    let completionTokens = 0;
    let content = "";
    let toolsStreamed = false;

    const usage = () => ({
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      // vLLM only with --enable-prompt-tokens-details; llama.cpp `usage_json_oaicompat` always.
      ...(llama || (flavor === "vllm" && options.promptTokensDetails) ? { prompt_tokens_details: { cached_tokens: cachedTokens } } : {}),
    });
    const timings = () => ({
      prompt_n: promptTokens - cachedTokens,
      prompt_ms: (promptTokens - cachedTokens) * 0.5,
      predicted_n: completionTokens,
      predicted_ms: completionTokens * 10,
      cache_n: cachedTokens,
    });

    if (spec.firstTokenDelayMs && !stream) await sleep(spec.firstTokenDelayMs, signal);
    if (!stream) {
      // Not streamed (the pre-warm): one chat.completion object.
      for (const s of steps) if (s.type === "content") content += s.text;
      completionTokens = Math.min(words(content).length, typeof body.max_tokens === "number" ? body.max_tokens : Infinity);
      if (signal.aborted) return;
      return sendJson(res, 200, {
        id,
        object: "chat.completion",
        created,
        model: requested || name,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: words(content).slice(0, completionTokens).join("") },
            finish_reason: "length",
          },
        ],
        usage: usage(),
      });
    }

    const startStream = () => {
      if (res.headersSent) return;
      res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
      res.flushHeaders();
    };
    // vLLM's StreamingResponse sends its headers at once; llama.cpp waits for the first result
    // (`handle_completions_impl`: "the first error must be treated as non-stream response").
    if (!llama) startStream();
    if (spec.firstTokenDelayMs) await sleep(spec.firstTokenDelayMs, signal);
    if (signal.aborted) return;

    const write = (text: string) => {
      startStream();
      res.write(text);
    };
    const data = (value: unknown) => write(`data: ${JSON.stringify(value)}\n\n`);
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      data({
        id,
        object: "chat.completion.chunk",
        created,
        model: requested || name,
        ...(llama ? { system_fingerprint: "b6000-fake" } : flavor === "ollama" ? { system_fingerprint: "fp_ollama" } : {}),
        choices: [
          {
            index: 0,
            delta: flavor === "ollama" ? { role: "assistant", content: "", ...delta } : delta,
            ...(flavor === "vllm" ? { logprobs: null } : {}),
            finish_reason: finishReason,
          },
        ],
      });
    // vLLM: the first response carries the role and an empty content; llama.cpp: role and content null.
    if (flavor !== "ollama") chunk({ role: "assistant", content: llama ? null : "" });

    for (const step of steps) {
      if (signal.aborted) return;
      switch (step.type) {
        case "delay":
          await sleep(step.ms, signal);
          break;
        case "content":
          completionTokens++;
          content += step.text;
          chunk({ content: step.text });
          break;
        case "reasoning": {
          completionTokens++;
          // llama.cpp `server_chat_msg_diff_to_json_oaicompat`: reasoning_content; vLLM `DeltaMessage.reasoning`; Ollama `Message.Reasoning`.
          const field = llama ? "reasoning_content" : flavor === "ollama" ? "reasoning" : (options.reasoningField ?? "reasoning");
          chunk({ [field]: step.text });
          break;
        }
        case "tool-delta":
          completionTokens++;
          toolsStreamed = true;
          chunk({ tool_calls: [step.delta] });
          break;
        case "data":
          data(step.data);
          break;
        case "finish": {
          // vLLM: "tool_calls" when tools were streamed and the model stopped; llama.cpp likewise.
          chunk({}, step.reason ?? (toolsStreamed ? "tool_calls" : "stop"));
          break;
        }
        case "usage":
          // The last chunk: `choices: []` and `usage` (vLLM when include_usage; llama.cpp adds `timings`).
          if (includeUsage) {
            data({
              id,
              object: "chat.completion.chunk",
              created,
              model: requested || name,
              choices: [],
              usage: usage(),
              ...(llama ? { timings: timings() } : {}),
            });
          }
          break;
        case "done":
          write("data: [DONE]\n\n");
          break;
        case "error-event":
          if (llama) {
            // server.cpp `handle_completions_impl`: `format_oai_sse(json {{ "error", res_json }})`, then the stream ends (no [DONE]).
            data({ error: { code: 500, message: step.message, type: "server_error" } });
            res.end();
            return;
          }
          // vLLM `chat_completion_stream_generator`: `data: {error}` then `data: [DONE]`.
          data({ error: { message: step.message, type: "InternalServerError", param: null, code: 500 } });
          write("data: [DONE]\n\n");
          res.end();
          return;
        case "error-field":
          // Older llama.cpp (examples/server/server.cpp): `server_sent_event(sink, "error", …)` then [DONE].
          write(`error: ${JSON.stringify({ code: 500, message: step.message, type: "server_error" })}\n\n`);
          write("data: [DONE]\n\n");
          res.end();
          return;
        case "drop":
          markDropped();
          res.socket?.destroy();
          return;
        case "end":
          startStream();
          res.end();
          return;
        case "hang":
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
          return;
        case "http":
          throw new Error("fake-openai: an `http` step must come first");
      }
    }
    if (!res.writableEnded) res.end();
  }

  function listModels(res: ServerResponse) {
    const created = Math.floor(Date.now() / 1000);
    const data = [...models.entries()].map(([id, spec]) => ({
      id,
      object: "model",
      created,
      owned_by: llama ? "llamacpp" : flavor === "ollama" ? "library" : "vllm",
      // server-models.cpp `get_router_models`: a status per model.
      ...(flavor === "llama.cpp-router" ? { status: { value: spec.status ?? "loaded", args: [] } } : {}),
    }));
    sendJson(res, 200, { object: "list", data });
  }

  function embeddings(res: ServerResponse, record: FakeOpenAiRequest) {
    const body = record.body ?? {};
    if (llama && options.embeddings === false) {
      // server.cpp `handle_embeddings_impl`.
      return sendJson(res, 501, errorBody(501, "This server does not support embeddings. Start it with `--embeddings`"));
    }
    const model = typeof body.model === "string" ? body.model : "";
    const spec = models.get(model);
    if (!spec && unknownModel(res, model)) return;
    if (spec && !spec.embedding && !llama) return sendJson(res, 400, errorBody(400, `The model \`${model}\` does not support embeddings.`));
    const inputs = Array.isArray(body.input) ? (body.input as string[]) : [String(body.input ?? "")];
    if (inputs.some((t) => t.length === 0)) return sendJson(res, 400, errorBody(400, "Input content cannot be empty"));
    const vector = (text: string) => {
      if (options.embed) return options.embed(text);
      let h = 2166136261;
      const v: number[] = [];
      for (let i = 0; i < 8; i++) {
        for (const c of `${i}:${text}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
        v.push(((h >>> 0) % 2000) / 1000 - 1);
      }
      const norm = Math.hypot(...v) || 1;
      return v.map((x) => x / norm);
    };
    const n = tokens(inputs.join(" ").length);
    sendJson(res, 200, {
      object: "list",
      model,
      data: inputs.map((text, index) => ({ object: "embedding", index, embedding: vector(text) })),
      usage: { prompt_tokens: n, total_tokens: n },
    });
  }

  const server = createServer((req, res) => {
    const controller = new AbortController();
    let resolveClosed!: () => void;
    let dropped = false;
    const record: FakeOpenAiRequest = {
      method: req.method ?? "GET",
      path: (req.url ?? "/").split("?")[0] as string,
      headers: req.headers,
      body: undefined,
      index: requests.length,
      closedByClient: false,
      finished: false,
      closed: new Promise<void>((resolve) => (resolveClosed = resolve)),
    };
    requests.push(record);
    res.on("finish", () => (record.finished = true));
    res.on("close", () => {
      record.status = res.statusCode;
      if (!res.writableFinished && !dropped) record.closedByClient = true;
      controller.abort();
      resolveClosed();
    });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      try {
        record.body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
      } catch {
        record.body = undefined;
      }
      const work = async () => {
        if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
          // llama.cpp `middleware_validate_api_key`: 401 "Invalid API Key".
          return sendJson(res, 401, llama ? errorBody(401, "Invalid API Key") : { error: "Unauthorized" });
        }
        if (llama && state.loading) {
          // llama.cpp `middleware_server_state`: 503 "Loading model" while the model loads.
          return sendJson(res, 503, errorBody(503, "Loading model"));
        }
        switch (`${record.method} ${record.path}`) {
          case "POST /v1/chat/completions":
            return chat(res, record, controller.signal, () => (dropped = true));
          case "GET /v1/models":
            return listModels(res);
          case "POST /v1/embeddings":
            return embeddings(res, record);
          default:
            // llama.cpp `set_error_handler`: "File Not Found"; FastAPI: {"detail":"Not Found"}; Go: text.
            if (llama) return sendJson(res, 404, errorBody(404, "File Not Found"));
            if (flavor === "vllm") return sendJson(res, 404, { detail: "Not Found" });
            res.writeHead(404, { "Content-Type": "text/plain" });
            return res.end("404 page not found");
        }
      };
      work().catch((error: unknown) => {
        if (res.headersSent) res.destroy();
        else sendJson(res, 500, errorBody(500, String(error)));
      });
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });

  return {
    url: `http://127.0.0.1:${port}`,
    baseURL: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    chats: () => requests.filter((r) => r.method === "POST" && r.path === "/v1/chat/completions"),
    get loading() {
      return state.loading;
    },
    set loading(value: boolean) {
      state.loading = value;
    },
    setModel: (name, model) => void models.set(name, model),
    close: stop,
    kill: stop,
  };
}

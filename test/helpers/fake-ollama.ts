/**
 * A fake Ollama server for tests: real HTTP on 127.0.0.1 (random port) that follows Ollama's
 * documented API closely enough for a client not to tell the difference:
 *
 * - `POST /api/chat`: NDJSON (`application/x-ndjson`, chunked), headers sent with the first
 *   chunk (after the model load and a slow first byte, like Ollama), a final `done: true` line
 *   with `done_reason` and the metrics in nanoseconds; `stream: false` answers one JSON object;
 *   empty `messages` loads the model and answers `done_reason: "load"` (`"unload"` with
 *   `keep_alive: 0`); unknown models get 404 `{"error":"model \"x\" not found, try pulling it first"}`.
 * - Models are "loaded" with their load-time options; a request with other load-time options
 *   reloads the model (counted in `reloads`); `keep_alive` (Go durations or seconds) sets when a
 *   model expires, and `/api/ps` lists the loaded ones with `expires_at`, `size_vram`.
 * - `GET /api/tags`, `GET /api/ps`, `POST /api/embed`, `GET /api/version`, `GET /`.
 * - A `script` per request replaces the default answer with steps: text, thinking, tool calls,
 *   delays, an HTTP error status, an error line mid-stream, a dropped socket, an end without
 *   `done`, a hang.
 *
 * Every request is recorded with its parsed body and whether the client closed it before the
 * server finished (`closedByClient`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One model the fake server has "pulled". */
export interface FakeModel {
  /** The answer text, streamed a word at a time. Default `Hello from <model>.` */
  reply?: string;
  /** Thinking text streamed before the answer (as `message.thinking`). */
  thinking?: string;
  /** Tool calls of the answer. */
  toolCalls?: FakeToolCall[];
  /** Send the tool calls on the final `done: true` chunk (as some servers do). Default true. */
  toolCallsOnFinal?: boolean;
  /** Time to load the model when it is not loaded (or must reload): delays the first byte, ms. Default 0. */
  loadDelayMs?: number;
  /** Extra delay before the first byte of every answer, ms. Default 0. */
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
  function: { name: string; arguments: Record<string, unknown> };
}

/** A step of a scripted answer. */
export type FakeStep =
  | { type: "text"; text: string }
  | { type: "thinking"; text: string }
  | { type: "tool_calls"; calls: FakeToolCall[] }
  /** A raw NDJSON line (an object written as is). */
  | { type: "line"; line: Record<string, unknown> }
  /** The final `done: true` line; fields override the computed metrics (all ns). */
  | { type: "done"; fields?: Record<string, unknown>; toolCalls?: FakeToolCall[] }
  | { type: "delay"; ms: number }
  /** An `{"error": "..."}` line in the middle of the stream, then the end of the response. */
  | { type: "error-line"; error: string }
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
  /** Default `keep_alive` when a request has none. Default `"5m"` (Ollama's). */
  defaultKeepAlive?: string | number;
  /**
   * The vector `/api/embed` answers for one input (it is sent as given, not normalised).
   * Default: a unit vector hashed from the text (`embeddingDims` long).
   */
  embed?: (input: string, context: { model: string }) => number[] | Promise<number[]>;
  /** Delay before `/api/embed` answers, ms (a number, or a function of the inputs). Default 0. */
  embedDelayMs?: number | ((inputs: string[]) => number);
}

export interface FakeOllama {
  url: string;
  port: number;
  /** Every request, in arrival order. */
  readonly requests: FakeRequest[];
  /** `/api/chat` requests with messages (answers). */
  chats(): FakeRequest[];
  /** `/api/chat` requests with empty messages (loads). */
  loads(): FakeRequest[];
  /** Model loads per model (a first load or a reload). */
  readonly loadCounts: Record<string, number>;
  /** Reloads per model caused by other load-time options. */
  readonly reloads: Record<string, number>;
  /** Names of the models loaded now (unexpired). */
  loadedModels(): string[];
  /** `/api/chat` requests in progress now, and the most ever at once. */
  readonly active: number;
  readonly maxActive: number;
  /** Add or replace a model. */
  setModel(name: string, model: FakeModel): void;
  removeModel(name: string): void;
  /** Stop gracefully. */
  close(): Promise<void>;
  /** Crash: destroy every connection and stop listening (later requests are refused). */
  kill(): Promise<void>;
}

/** Ollama's 503 text when its queue is full. */
export const OLLAMA_BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded";

/** Text steps, a word at a time. */
export function textSteps(text: string): FakeStep[] {
  return (text.match(/\S+\s*|\s+/g) ?? []).map((t) => ({ type: "text", text: t }));
}

/** The options Ollama loads a model with: other values reload it. */
const LOAD_KEYS = ["num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "use_mmap", "use_mlock", "numa", "low_vram"];

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Ollama's keep_alive: a number of seconds or a Go duration; negative is forever. */
export function parseKeepAlive(value: string | number): number {
  if (typeof value === "number") return value < 0 ? Infinity : value * 1000;
  if (value.trim() === "0") return 0;
  let ms = 0;
  let matched = "";
  for (const m of value.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) {
    ms += Number(m[1]) * (UNITS[m[2] as string] as number);
    matched += m[0];
  }
  if (matched !== value.replace(/^[+-]/, "")) throw new Error(`time: invalid duration "${value}"`);
  return value.startsWith("-") ? Infinity : ms;
}

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

interface Loaded {
  loadKey: string;
  expiresAt: number;
  contextLength: number;
  busy: number;
}

/** Start a fake Ollama on a random port of 127.0.0.1. */
export async function startFakeOllama(options: FakeOllamaOptions = {}): Promise<FakeOllama> {
  const models = new Map<string, FakeModel>(Object.entries(options.models ?? {}));
  const requests: FakeRequest[] = [];
  const loaded = new Map<string, Loaded>();
  const loadCounts: Record<string, number> = {};
  const reloads: Record<string, number> = {};
  const sockets = new Set<Socket>();
  let active = 0;
  let maxActive = 0;

  const canonical = (name: string) => (name.slice(name.lastIndexOf("/") + 1).includes(":") ? name : `${name}:latest`);
  const find = (name: string): [string, FakeModel] | undefined => {
    for (const [key, model] of models) if (canonical(key) === canonical(name)) return [key, model];
    return undefined;
  };
  const purge = () => {
    const now = Date.now();
    for (const [name, entry] of loaded) if (entry.busy === 0 && entry.expiresAt <= now) loaded.delete(name);
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
  };
  const notFound = (res: ServerResponse, model: string) =>
    json(res, 404, { error: `model "${model}" not found, try pulling it first` });

  /** Load (or reload) a model; resolves with the load time in ns. */
  async function load(name: string, spec: FakeModel, body: FakeChatBody, signal: AbortSignal): Promise<number> {
    purge();
    const runner = Object.fromEntries(LOAD_KEYS.filter((k) => body.options?.[k] !== undefined).map((k) => [k, body.options?.[k]]));
    const loadKey = JSON.stringify(runner);
    const current = loaded.get(name);
    const contextLength = typeof runner.num_ctx === "number" ? runner.num_ctx : 4096;
    if (current && current.loadKey === loadKey) {
      current.busy++;
      return 40_000; // a warm model: microseconds
    }
    if (current) reloads[name] = (reloads[name] ?? 0) + 1;
    loadCounts[name] = (loadCounts[name] ?? 0) + 1;
    loaded.set(name, { loadKey, expiresAt: Infinity, contextLength, busy: 1 });
    const t0 = performance.now();
    if (spec.loadDelayMs) await sleep(spec.loadDelayMs, signal);
    return Math.round((performance.now() - t0) * 1e6) + 1_000_000;
  }

  function release(name: string, body: FakeChatBody) {
    const entry = loaded.get(name);
    if (!entry) return;
    entry.busy = Math.max(0, entry.busy - 1);
    const keepAlive = parseKeepAlive(body.keep_alive ?? options.defaultKeepAlive ?? "5m");
    if (keepAlive === 0) loaded.delete(name);
    else entry.expiresAt = Date.now() + keepAlive;
  }

  function defaultSteps(name: string, spec: FakeModel): FakeStep[] {
    const steps: FakeStep[] = [];
    if (spec.thinking) for (const s of textSteps(spec.thinking)) steps.push(s.type === "text" ? { type: "thinking", text: s.text } : s);
    steps.push(...textSteps(spec.reply ?? `Hello from ${name}.`));
    const onFinal = spec.toolCallsOnFinal ?? true;
    if (spec.toolCalls && !onFinal) steps.push({ type: "tool_calls", calls: spec.toolCalls });
    steps.push({ type: "done", ...(spec.toolCalls && onFinal ? { toolCalls: spec.toolCalls } : {}) });
    if (spec.chunkDelayMs) return steps.flatMap((s, i) => (i === 0 ? [s] : [{ type: "delay", ms: spec.chunkDelayMs as number } as FakeStep, s]));
    return steps;
  }

  async function chat(req: IncomingMessage, res: ServerResponse, record: FakeRequest, signal: AbortSignal, markDropped: () => void) {
    const body = record.body;
    if (!body) return json(res, 400, { error: "invalid request body" });
    if (typeof body.model !== "string" || !body.model) return json(res, 400, { error: "model is required" });
    const found = find(body.model);
    const messages = body.messages ?? [];
    const scripted = messages.length > 0 ? options.script?.(body, { model: body.model, index: record.index }) : undefined;
    const first = scripted?.[0];
    if (first?.type === "http") {
      res.writeHead(first.status, { "Content-Type": first.contentType ?? "application/json; charset=utf-8" });
      res.end(typeof first.body === "string" ? first.body : JSON.stringify(first.body ?? { error: "error" }));
      return;
    }
    if (!found) return notFound(res, body.model);
    const [name, spec] = found;
    const createdAt = () => new Date().toISOString();

    if (messages.length === 0) {
      // Load (or unload) the model; Ollama answers one JSON object whatever `stream` says.
      if (body.keep_alive === 0 || body.keep_alive === "0") {
        loaded.delete(name);
        return json(res, 200, { model: body.model, created_at: createdAt(), message: { role: "assistant", content: "" }, done_reason: "unload", done: true });
      }
      await load(name, spec, body, signal);
      release(name, body);
      if (signal.aborted) return;
      return json(res, 200, { model: body.model, created_at: createdAt(), message: { role: "assistant", content: "" }, done_reason: "load", done: true });
    }

    active++;
    maxActive = Math.max(maxActive, active);
    const t0 = performance.now();
    try {
      const loadNs = await load(name, spec, body, signal);
      if (spec.firstByteDelayMs) await sleep(spec.firstByteDelayMs, signal);
      const steps = scripted ?? defaultSteps(name, spec);
      const promptChars = messages.reduce((n, m) => n + (typeof m.content === "string" ? m.content.length : 0), 0);
      let evalCount = 0;
      let content = "";
      let thinking = "";
      const toolCalls: FakeToolCall[] = [];
      const streaming = body.stream !== false;
      const write = (line: Record<string, unknown>) => {
        if (!res.headersSent) {
          res.statusCode = 200;
          res.setHeader("Content-Type", "application/x-ndjson");
        }
        res.write(`${JSON.stringify(line)}\n`);
      };
      const chunk = (message: Record<string, unknown>) => ({ model: body.model, created_at: createdAt(), message: { role: "assistant", content: "", ...message }, done: false });
      for (const step of steps) {
        if (signal.aborted) return;
        switch (step.type) {
          case "delay":
            await sleep(step.ms, signal);
            break;
          case "text":
            evalCount++;
            content += step.text;
            if (streaming) write(chunk({ content: step.text }));
            break;
          case "thinking":
            evalCount++;
            thinking += step.text;
            if (streaming) write(chunk({ thinking: step.text }));
            break;
          case "tool_calls":
            toolCalls.push(...step.calls);
            if (streaming) write(chunk({ tool_calls: step.calls }));
            break;
          case "line":
            write(step.line);
            break;
          case "done": {
            const evalNs = Math.max(1, evalCount) * 10_000_000;
            const promptTokens = Math.max(1, Math.ceil(promptChars / 4));
            const finalMessage: Record<string, unknown> = streaming ? {} : { content, ...(thinking ? { thinking } : {}) };
            const calls = [...(streaming ? [] : toolCalls), ...(step.toolCalls ?? [])];
            if (calls.length) finalMessage.tool_calls = calls;
            const final = {
              ...chunk(finalMessage),
              done: true,
              done_reason: spec.doneReason ?? "stop",
              total_duration: Math.round((performance.now() - t0) * 1e6),
              load_duration: loadNs,
              prompt_eval_count: promptTokens,
              prompt_eval_duration: promptTokens * 200_000,
              eval_count: evalCount,
              eval_duration: evalNs,
              ...step.fields,
            };
            if (streaming) write(final);
            else json(res, 200, final);
            break;
          }
          case "error-line":
            write({ error: step.error });
            res.end();
            return;
          case "drop":
            markDropped();
            res.socket?.destroy();
            return;
          case "end":
            if (!res.headersSent) write(chunk({}));
            res.end();
            return;
          case "hang":
            await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
            return;
          case "http":
            throw new Error("fake-ollama: an `http` step must come first");
        }
      }
      if (!res.writableEnded) res.end();
    } finally {
      active--;
      release(name, body);
    }
  }

  function ps(res: ServerResponse) {
    purge();
    const list = [...loaded].map(([name, entry]) => {
      const spec = models.get(name) ?? {};
      const size = spec.size ?? 2_000_000_000;
      const expires = entry.busy > 0 || !Number.isFinite(entry.expiresAt) ? Date.now() + 100 * 365 * 86_400_000 : entry.expiresAt;
      return {
        name: canonical(name),
        model: canonical(name),
        size,
        digest: "0".repeat(64),
        details: { parent_model: "", format: "gguf", family: "llama", families: ["llama"], parameter_size: "3.2B", quantization_level: "Q4_K_M" },
        expires_at: new Date(expires).toISOString(),
        size_vram: spec.sizeVram ?? size,
        context_length: entry.contextLength,
      };
    });
    json(res, 200, { models: list });
  }

  function tags(res: ServerResponse) {
    json(res, 200, {
      models: [...models].map(([name, spec]) => ({
        name: canonical(name),
        model: canonical(name),
        modified_at: "2025-10-03T23:34:03.409490317-07:00",
        size: spec.size ?? 2_000_000_000,
        digest: "0".repeat(64),
        details: { format: "gguf", family: "llama", families: ["llama"], parameter_size: "3.2B", quantization_level: "Q4_K_M" },
      })),
    });
  }

  async function embed(res: ServerResponse, record: FakeRequest, signal: AbortSignal) {
    const body = record.body as { model?: string; input?: string | string[]; keep_alive?: string | number; options?: Record<string, unknown> } | undefined;
    if (!body || typeof body.model !== "string") return json(res, 400, { error: "model is required" });
    const found = find(body.model);
    if (!found) return notFound(res, body.model);
    const [name, spec] = found;
    const loadNs = await load(name, spec, body, signal);
    release(name, body);
    const inputs = Array.isArray(body.input) ? body.input : [body.input ?? ""];
    const delay = typeof options.embedDelayMs === "function" ? options.embedDelayMs(inputs) : (options.embedDelayMs ?? 0);
    if (delay > 0) await sleep(delay, signal);
    if (signal.aborted) return;
    const custom = options.embed;
    if (custom) {
      const vectors = await Promise.all(inputs.map((text) => custom(text, { model: name })));
      if (signal.aborted) return;
      return json(res, 200, { model: body.model, embeddings: vectors, total_duration: loadNs + 1_000_000, load_duration: loadNs, prompt_eval_count: inputs.join(" ").length });
    }
    const dims = spec.embeddingDims ?? 8;
    const embeddings = inputs.map((text) => {
      let h = 2166136261;
      const v: number[] = [];
      for (let i = 0; i < dims; i++) {
        for (const c of `${i}:${text}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
        v.push(((h >>> 0) % 2000) / 1000 - 1);
      }
      const norm = Math.hypot(...v) || 1;
      return v.map((x) => x / norm);
    });
    json(res, 200, { model: body.model, embeddings, total_duration: loadNs + 1_000_000, load_duration: loadNs, prompt_eval_count: inputs.join(" ").length });
  }

  const server = createServer((req, res) => {
    const controller = new AbortController();
    let resolveClosed!: () => void;
    let dropped = false;
    const record: FakeRequest = {
      method: req.method ?? "GET",
      path: (req.url ?? "/").split("?")[0] as string,
      body: undefined,
      raw: "",
      index: requests.length,
      closedByClient: false,
      finished: false,
      closed: new Promise<void>((resolve) => (resolveClosed = resolve)),
    };
    requests.push(record);
    res.on("finish", () => {
      record.finished = true;
    });
    res.on("close", () => {
      record.status = res.statusCode;
      if (!res.writableFinished && !dropped) record.closedByClient = true;
      controller.abort();
      resolveClosed();
    });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      record.raw = Buffer.concat(chunks).toString("utf8");
      try {
        record.body = record.raw ? (JSON.parse(record.raw) as FakeChatBody) : undefined;
      } catch {
        record.body = undefined;
      }
      const route = `${record.method} ${record.path}`;
      const work = async () => {
        switch (route) {
          case "POST /api/chat":
            return chat(req, res, record, controller.signal, () => (dropped = true));
          case "GET /api/ps":
            return ps(res);
          case "GET /api/tags":
            return tags(res);
          case "POST /api/embed":
            return embed(res, record, controller.signal);
          case "GET /api/version":
            return json(res, 200, { version: "0.12.6" });
          case "GET /":
          case "HEAD /":
            res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
            return res.end("Ollama is running");
          default:
            res.writeHead(404, { "Content-Type": "text/plain" });
            return res.end("404 page not found");
        }
      };
      work().catch((error: unknown) => {
        if (res.headersSent) res.destroy();
        else json(res, 500, { error: String(error) });
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
    port,
    requests,
    chats: () => requests.filter((r) => r.path === "/api/chat" && (r.body?.messages?.length ?? 0) > 0),
    loads: () => requests.filter((r) => r.path === "/api/chat" && r.body !== undefined && (r.body.messages?.length ?? 0) === 0),
    loadCounts,
    reloads,
    loadedModels: () => {
      purge();
      return [...loaded.keys()].map(canonical);
    },
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
    setModel: (name, model) => void models.set(name, model),
    removeModel: (name) => void models.delete(name),
    close: stop,
    kill: stop,
  };
}

/**
 * A fake Ollama server for tests: real HTTP on 127.0.0.1 (random port) that behaves as Ollama's
 * own source says (`ollama/ollama` at v0.33.0-rc2). Each behaviour names the file and function it
 * follows; `test/ollama/fake-ollama.test.ts` tests each one.
 *
 * - `POST /api/chat` (`server/routes.go` `ChatHandler`): the body is bound first (a bad
 *   `keep_alive` or `think` is a 400 before anything loads); an unknown model is 404
 *   `model 'x' not found`; an empty `messages` list with a zero `keep_alive` unloads
 *   (`done_reason: "unload"`); `think` defaults to true on a model with the `thinking`
 *   capability, and `think: true` (or a level) on one without is 400 `"x" does not support
 *   thinking`; tools on a model without the `tools` capability are 400 `<full name> does not
 *   support tools`, a model without `completion` is 400 `"x" does not support chat`; then the
 *   scheduler gives a runner (see `scheduler.ts`: queue, one load at a time, reloads, eviction,
 *   discarded loads, parallel slots); an empty `messages` list answers `done_reason: "load"`.
 * - Answers stream as NDJSON; headers go out with the first chunk, after the load, the wait for a
 *   slot and the prompt evaluation (gin's `c.Stream`). An error before any output is an HTTP
 *   status with a JSON body, after output an `{"error"}` line (`streamResponse`). Text can come on
 *   the `done` chunk; nothing is sent while a tool call is generated; tool calls carry an `id`
 *   (`toolCallId`) and `function.index` (`api/types.go` `ToolCall`). The final chunk carries
 *   `done_reason` and the metrics in ns, zero ones left out (`api/types.go` `Metrics`, omitempty);
 *   `load_duration` runs from the request's arrival to the runner being ready, so it includes the
 *   wait for a load in progress.
 * - `GET /api/ps` (`PsHandler`): DisplayShortest names, latest expiry first. `GET /api/tags`,
 *   `POST /api/embed` (`EmbedHandler`: 404 `model "x" not found, try pulling it first`,
 *   L2-normalised vectors, an empty input loads the model and answers no vectors and no metrics),
 *   `GET /api/version`, `GET /`.
 * - A `script` per request replaces the default answer with steps.
 *
 * Every request is recorded with its parsed body and whether the client closed it before the
 * server finished (`closedByClient`); `log` records loads, unloads, slot waits and first bytes in
 * the order they happened, so tests assert order, never wall-clock time.
 */
import { randomInt } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { parseKeepAlive, readKeepAlive } from "./duration.js";
import { displayShortest, fullName, nameKey, parseName } from "./names.js";
import { FakeScheduler, ScheduleError, type FakeEvent, type RunnerOptions, type SchedRequest } from "./scheduler.js";
import type { FakeCapability, FakeChatBody, FakeModel, FakeOllamaOptions, FakeRequest, FakeStep, FakeToolCall } from "./types.js";

export interface FakeOllama {
  url: string;
  port: number;
  /** Every request, in arrival order. */
  readonly requests: FakeRequest[];
  /** `/api/chat` requests with messages (answers). */
  chats(): FakeRequest[];
  /** `/api/chat` requests with empty messages (loads and unloads). */
  loads(): FakeRequest[];
  /** Model loads started per model (first loads and reloads, discarded ones too), by the name the test gave. */
  readonly loadCounts: Record<string, number>;
  /** Reloads per model caused by other load-time options. */
  readonly reloads: Record<string, number>;
  /** Loads discarded because their request went away first, per model. */
  readonly discardedLoads: Record<string, number>;
  /** Loads, unloads, slot waits, first bytes and ends, in the order they happened. */
  readonly log: readonly FakeEvent[];
  /** Names of the models loaded now, as `/api/ps` shows them. */
  loadedModels(): string[];
  /** `/api/chat` requests with messages in progress now, and the most ever at once. */
  readonly active: number;
  readonly maxActive: number;
  /** Requests waiting now for a load, a reload or a parallel slot (no byte sent yet), and the most ever. */
  readonly waiting: number;
  readonly maxWaiting: number;
  /** Add or replace a model. */
  setModel(name: string, model: FakeModel): void;
  removeModel(name: string): void;
  /** Stop gracefully. */
  close(): Promise<void>;
  /** Crash: destroy every connection and stop listening (later requests are refused). */
  kill(): Promise<void>;
}

/** Text steps, a word at a time. */
export function textSteps(text: string): FakeStep[] {
  return (text.match(/\S+\s*|\s+/g) ?? []).map((t) => ({ type: "text", text: t }));
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

/** `routes.go` `toolCallId`: "call_" and 8 lower-case letters or digits. */
function toolCallId(): string {
  const letters = "abcdefghijklmnopqrstuvwxyz0123456789";
  let id = "call_";
  for (let i = 0; i < 8; i++) id += letters[randomInt(letters.length)];
  return id;
}

/** `server/images.go` `Model.Capabilities`, as configured. */
export const capabilitiesOf = (spec: FakeModel): FakeCapability[] =>
  spec.capabilities ?? ["completion", "tools", ...(spec.thinking !== undefined ? (["thinking"] as const) : [])];

const THINK_LEVELS = ["high", "medium", "low", "max"];

/** `api/types.go` `ThinkValue.UnmarshalJSON`: the value, or the 400 text. */
function readThink(value: unknown): { value: boolean | string | undefined } | { error: string } {
  if (value === undefined || value === null) return { value: undefined };
  if (typeof value === "boolean") return { value };
  if (typeof value === "string") {
    if (THINK_LEVELS.includes(value)) return { value };
    return { error: `invalid think value: ${JSON.stringify(value)} (must be "high", "medium", "low", "max", true, or false)` };
  }
  return { error: 'think must be a boolean or string ("high", "medium", "low", "max", true, or false)' };
}

const INT_KEYS = ["num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "draft_num_predict"] as const;

/**
 * `routes.go` `modelOptions` (`api.DefaultOptions` then `Options.FromMap`) for the `api.Runner`
 * part: unknown keys (such as `use_mlock`, removed in 0.7) are ignored; a wrong type is an error
 * (500 through `handleScheduleError`). `usesAutomaticNumCtx` / `usesAutomaticNumBatch` too.
 */
function runnerOptions(
  options: Record<string, unknown> | undefined,
  defaultNumCtx: number,
): { options: RunnerOptions; numCtxAuto: boolean; numBatchAuto: boolean } | { error: string } {
  const o = options ?? {};
  const out: RunnerOptions = {
    num_ctx: defaultNumCtx,
    num_batch: 512,
    num_gpu: -1,
    main_gpu: null,
    use_mmap: null,
    num_thread: 0,
    draft_num_predict: 0,
  };
  for (const key of INT_KEYS) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number") return { error: `option "${key}" must be of type integer` };
    out[key] = Math.trunc(v);
  }
  if (o.use_mmap !== undefined && o.use_mmap !== null) {
    if (typeof o.use_mmap !== "boolean") return { error: 'option "use_mmap" must be of type boolean' };
    out.use_mmap = o.use_mmap;
  }
  return { options: out, numCtxAuto: o.num_ctx === undefined, numBatchAuto: o.num_batch === undefined };
}

interface Entry {
  /** The name the test registered the model under (the key of the counters). */
  registered: string;
  display: string;
  full: string;
  spec: FakeModel;
}

/** Start a fake Ollama on a random port of 127.0.0.1. */
export async function startFakeOllama(options: FakeOllamaOptions = {}): Promise<FakeOllama> {
  const models = new Map<string, Entry>();
  const setModel = (name: string, spec: FakeModel) => {
    const parsed = parseName(name);
    models.set(nameKey(name), { registered: name, display: displayShortest(parsed), full: fullName(parsed), spec });
  };
  for (const [name, spec] of Object.entries(options.models ?? {})) setModel(name, spec);
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  const scheduler = new FakeScheduler({
    numParallel: options.numParallel ?? 1,
    maxLoadedModels: options.maxLoadedModels ?? 3,
    maxQueue: options.maxQueue ?? 512,
    defaultKeepAliveMs: parseKeepAlive(options.defaultKeepAlive ?? "5m"),
  });
  const defaultNumCtx = options.defaultNumCtx ?? 4096;
  let active = 0;
  let maxActive = 0;
  let waiting = 0;
  let maxWaiting = 0;
  const wait = async <T>(work: Promise<T>): Promise<T> => {
    waiting++;
    maxWaiting = Math.max(maxWaiting, waiting);
    try {
      return await work;
    } finally {
      waiting--;
    }
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
  };
  const createdAt = () => new Date().toISOString();
  const ns = (fromMs: number) => Math.max(1, Math.round((performance.now() - fromMs) * 1e6));

  /** The request's view of the scheduler, or the 400/500 to answer. */
  function schedRequest(
    entry: Entry,
    body: FakeChatBody,
    keepAliveMs: number | undefined,
    signal: AbortSignal,
    index: number,
  ): SchedRequest | { error: string } {
    const runner = runnerOptions(body.options, defaultNumCtx);
    if ("error" in runner) return runner;
    return {
      key: entry.full.toLowerCase(),
      display: entry.display,
      counter: entry.registered,
      spec: entry.spec,
      ...runner,
      shift: body.shift === undefined ? true : body.shift === true,
      keepAliveMs,
      signal,
      index,
    };
  }

  function defaultSteps(name: string, spec: FakeModel, thinking: boolean): FakeStep[] {
    const steps: FakeStep[] = [];
    if (thinking)
      for (const s of textSteps(spec.thinking ?? "Let me think.")) steps.push(s.type === "text" ? { type: "thinking", text: s.text } : s);
    steps.push(...textSteps(spec.reply ?? `Hello from ${name}.`));
    const onFinal = spec.toolCallsOnFinal ?? true;
    if (spec.toolCalls && spec.toolCallGapMs) steps.push({ type: "delay", ms: spec.toolCallGapMs });
    if (spec.toolCalls && !onFinal) steps.push({ type: "tool_calls", calls: spec.toolCalls });
    steps.push({
      type: "done",
      ...(spec.toolCalls && onFinal ? { toolCalls: spec.toolCalls } : {}),
      ...(spec.textOnDone ? { text: spec.textOnDone } : {}),
    });
    if (spec.chunkDelayMs)
      return steps.flatMap((s, i) => (i === 0 ? [s] : [{ type: "delay", ms: spec.chunkDelayMs as number } as FakeStep, s]));
    return steps;
  }

  async function chat(res: ServerResponse, record: FakeRequest, signal: AbortSignal, markDropped: () => void) {
    const t0 = performance.now();
    // ---- ShouldBindJSON: the body, keep_alive (api.Duration) and think (api.ThinkValue) ----
    if (!record.raw) return json(res, 400, { error: "missing request body" });
    const body = record.body;
    if (!body || typeof body !== "object") return json(res, 400, { error: "invalid character in request body" });
    const keepAlive = readKeepAlive(body.keep_alive);
    if (keepAlive.kind === "invalid") return json(res, 400, { error: keepAlive.error });
    const think = readThink(body.think);
    if ("error" in think) return json(res, 400, { error: think.error });
    const messages = body.messages ?? [];
    const scripted =
      messages.length > 0 && typeof body.model === "string"
        ? options.script?.(body, { model: body.model, index: record.index })
        : undefined;
    const first = scripted?.[0];
    if (first?.type === "http") {
      res.writeHead(first.status, { "Content-Type": first.contentType ?? "application/json; charset=utf-8" });
      res.end(typeof first.body === "string" ? first.body : JSON.stringify(first.body ?? { error: "error" }));
      return;
    }
    if (typeof body.model !== "string" || !body.model) return json(res, 400, { error: "model is required" });
    // ---- getModel: 404 with the name as sent ----
    const entry = models.get(nameKey(body.model));
    if (!entry) return json(res, 404, { error: `model '${body.model}' not found` });
    const { spec } = entry;
    // ---- an empty chat with a zero keep_alive: expireRunner, "unload" ----
    if (messages.length === 0 && keepAlive.kind === "set" && keepAlive.ms === 0) {
      scheduler.expireRunner(entry.full.toLowerCase());
      return json(res, 200, {
        model: body.model,
        created_at: createdAt(),
        message: { role: "assistant", content: "" },
        done: true,
        done_reason: "unload",
      });
    }
    // ---- thinking: on by default where the model can, 400 where it cannot ----
    const caps = capabilitiesOf(spec);
    let thinkOn: boolean;
    if (caps.includes("thinking")) thinkOn = think.value === undefined ? true : think.value !== false;
    else {
      if (think.value !== undefined && think.value !== false)
        return json(res, 400, { error: `${JSON.stringify(body.model)} does not support thinking` });
      thinkOn = false;
    }
    // ---- scheduleRunner: CheckCapabilities, then the scheduler ----
    if (!caps.includes("completion")) return json(res, 400, { error: `${JSON.stringify(body.model)} does not support chat` });
    if ((body.tools?.length ?? 0) > 0 && !caps.includes("tools")) return json(res, 400, { error: `${entry.full} does not support tools` });
    const req = schedRequest(entry, body, keepAlive.kind === "set" ? keepAlive.ms : undefined, signal, record.index);
    if ("error" in req) return json(res, 500, { error: req.error });

    const isAnswer = messages.length > 0;
    if (isAnswer) {
      active++;
      maxActive = Math.max(maxActive, active);
    }
    try {
      let runner: Awaited<ReturnType<typeof scheduler.getRunner>>;
      try {
        runner = await wait(scheduler.getRunner(req));
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ScheduleError) return json(res, error.status, { error: error.message });
        throw error;
      }
      const loadNs = ns(t0);
      if (!isAnswer) {
        return json(res, 200, {
          model: body.model,
          created_at: createdAt(),
          message: { role: "assistant", content: "" },
          done: true,
          done_reason: "load",
        });
      }
      // ---- Completion: a parallel slot (sem.Acquire), then the prompt evaluation ----
      const free = runner.hasFreeSlot;
      if (!free) scheduler.log.push({ type: "slot-wait", model: entry.display, index: record.index });
      if (!(await (free ? runner.acquire(signal) : wait(runner.acquire(signal))))) return;
      await answer(res, record, signal, markDropped, { body, entry, spec, scripted, thinkOn, t0, loadNs, release: () => runner.release() });
    } finally {
      if (isAnswer) active--;
    }
  }

  async function answer(
    res: ServerResponse,
    record: FakeRequest,
    signal: AbortSignal,
    markDropped: () => void,
    ctx: {
      body: FakeChatBody;
      entry: Entry;
      spec: FakeModel;
      scripted: FakeStep[] | undefined;
      thinkOn: boolean;
      t0: number;
      loadNs: number;
      release: () => void;
    },
  ) {
    const { body, entry, spec, t0, loadNs } = ctx;
    try {
      if (spec.firstByteDelayMs) await sleep(spec.firstByteDelayMs, signal);
      const steps = (ctx.scripted ?? defaultSteps(entry.display, spec, ctx.thinkOn)).filter((s) => ctx.thinkOn || s.type !== "thinking");
      const messages = body.messages ?? [];
      const promptChars = messages.reduce((n, m) => n + (typeof m.content === "string" ? m.content.length : 0), 0);
      let evalCount = 0;
      let content = "";
      let thinking = "";
      let callIndex = 0;
      const toolCalls: FakeToolCall[] = [];
      const streaming = body.stream !== false;
      const wire = (calls: FakeToolCall[]) =>
        calls.map((c) => ({
          ...(options.toolCallIds === false ? {} : { id: c.id ?? toolCallId() }),
          function: { index: c.function.index ?? callIndex++, name: c.function.name, arguments: c.function.arguments },
        }));
      const write = (line: Record<string, unknown>) => {
        if (!res.headersSent) {
          scheduler.log.push({ type: "first-byte", model: entry.display, index: record.index });
          res.statusCode = 200;
          res.setHeader("Content-Type", "application/x-ndjson");
        }
        res.write(`${JSON.stringify(line)}\n`);
      };
      const chunk = (message: Record<string, unknown>) => ({
        model: body.model,
        created_at: createdAt(),
        message: { role: "assistant", content: "", ...message },
        done: false,
      });
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
          case "tool_calls": {
            const calls = wire(step.calls);
            toolCalls.push(...calls);
            if (streaming) write(chunk({ tool_calls: calls }));
            break;
          }
          case "line":
            write(step.line);
            break;
          case "done": {
            const promptTokens = Math.ceil(promptChars / 4);
            if (step.text) {
              evalCount++;
              content += step.text;
            }
            const finalMessage: Record<string, unknown> = streaming
              ? { content: step.text ?? "" }
              : { content, ...(thinking ? { thinking } : {}) };
            const calls = [...(streaming ? [] : toolCalls), ...wire(step.toolCalls ?? [])];
            if (calls.length) finalMessage.tool_calls = calls;
            // api.Metrics: every field omitempty, so zero values are left out
            const metrics: Record<string, number> = {
              total_duration: ns(t0),
              load_duration: loadNs,
              prompt_eval_count: promptTokens,
              prompt_eval_duration: promptTokens * 200_000,
              eval_count: evalCount,
              eval_duration: evalCount * 10_000_000,
            };
            const final: Record<string, unknown> = { ...chunk(finalMessage), done: true, done_reason: spec.doneReason ?? "stop" };
            for (const [key, value] of Object.entries(metrics)) if (value !== 0) final[key] = value;
            Object.assign(final, step.fields);
            if (streaming) write(final);
            else json(res, 200, final);
            break;
          }
          case "error-line":
            if (!res.headersSent) json(res, step.status ?? 500, { error: step.error });
            else {
              write({ error: step.error });
              res.end();
            }
            return;
          case "drop":
            markDropped();
            res.socket?.destroy();
            return;
          case "end":
            if (!res.headersSent) {
              res.statusCode = 200;
              res.setHeader("Content-Type", "application/x-ndjson");
            }
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
      scheduler.log.push({ type: "end", model: entry.display, index: record.index });
      ctx.release();
    }
  }

  function ps(res: ServerResponse) {
    const list = scheduler.list().map(({ runner, expiresAt }) => {
      const size = runner.spec.size ?? 2_000_000_000;
      return {
        name: runner.display,
        model: runner.display,
        size,
        digest: "0".repeat(64),
        details: {
          parent_model: "",
          format: "gguf",
          family: "llama",
          families: ["llama"],
          parameter_size: "3.2B",
          quantization_level: "Q4_K_M",
        },
        expires_at: new Date(Math.min(expiresAt, 8.64e15)).toISOString(),
        size_vram: runner.spec.sizeVram ?? size,
        context_length: runner.options.num_ctx,
      };
    });
    json(res, 200, { models: list });
  }

  function tags(res: ServerResponse) {
    json(res, 200, {
      models: [...models.values()].map(({ display, spec }) => ({
        name: display,
        model: display,
        modified_at: "2025-10-03T23:34:03.409490317-07:00",
        size: spec.size ?? 2_000_000_000,
        digest: "0".repeat(64),
        details: {
          parent_model: "",
          format: "gguf",
          family: "llama",
          families: ["llama"],
          parameter_size: "3.2B",
          quantization_level: "Q4_K_M",
        },
      })),
    });
  }

  async function embed(res: ServerResponse, record: FakeRequest, signal: AbortSignal) {
    const t0 = performance.now();
    if (!record.raw) return json(res, 400, { error: "missing request body" });
    const body = record.body as { model?: string; input?: unknown; keep_alive?: unknown; options?: Record<string, unknown> } | undefined;
    if (!body || typeof body !== "object") return json(res, 400, { error: "invalid character in request body" });
    const keepAlive = readKeepAlive(body.keep_alive);
    if (keepAlive.kind === "invalid") return json(res, 400, { error: keepAlive.error });
    let inputs: string[];
    if (typeof body.input === "string") inputs = body.input ? [body.input] : [];
    else if (Array.isArray(body.input)) {
      if (!body.input.every((v): v is string => typeof v === "string")) return json(res, 400, { error: "invalid input type" });
      inputs = body.input;
    } else if (body.input === undefined || body.input === null) inputs = [];
    else return json(res, 400, { error: "invalid input type" });
    if (typeof body.model !== "string" || !body.model) return json(res, 404, { error: `model '${String(body.model ?? "")}' not found` });
    const entry = models.get(nameKey(body.model));
    // EmbedHandler: getModel's error goes through handleScheduleError
    if (!entry) return json(res, 404, { error: `model ${JSON.stringify(body.model)} not found, try pulling it first` });
    const req = schedRequest(entry, body as FakeChatBody, keepAlive.kind === "set" ? keepAlive.ms : undefined, signal, record.index);
    if ("error" in req) return json(res, 500, { error: req.error });
    let runner: Awaited<ReturnType<typeof scheduler.getRunner>>;
    try {
      runner = await wait(scheduler.getRunner(req));
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ScheduleError) return json(res, error.status, { error: error.message });
      throw error;
    }
    const loadNs = ns(t0);
    if (inputs.length === 0) return json(res, 200, { model: body.model, embeddings: [] });
    if (!(await runner.acquire(signal))) return;
    try {
      const delay = typeof options.embedDelayMs === "function" ? options.embedDelayMs(inputs) : (options.embedDelayMs ?? 0);
      if (delay > 0) await sleep(delay, signal);
      if (signal.aborted) return;
      const dims = entry.spec.embeddingDims ?? 8;
      const custom = options.embed;
      const raw = custom
        ? await Promise.all(inputs.map((text) => custom(text, { model: entry.display })))
        : inputs.map((text) => {
            let h = 2166136261;
            const v: number[] = [];
            for (let i = 0; i < dims; i++) {
              for (const c of `${i}:${text}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
              v.push(((h >>> 0) % 2000) / 1000 - 1);
            }
            return v;
          });
      if (signal.aborted) return;
      // EmbedHandler `normalize`: every vector is L2-normalised
      const embeddings = raw.map((v) => {
        const norm = Math.max(Math.hypot(...v), 1e-12);
        return v.map((x) => x / norm);
      });
      const tokens = inputs.reduce((n, text) => n + Math.max(1, Math.ceil(text.length / 4)), 0);
      json(res, 200, { model: body.model, embeddings, total_duration: ns(t0), load_duration: loadNs, prompt_eval_count: tokens });
    } finally {
      runner.release();
    }
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
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
      // the request context ends: a load it started is discarded, its runner reference released
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
            return chat(res, record, controller.signal, () => (dropped = true));
          case "GET /api/ps":
            return ps(res);
          case "GET /api/tags":
            return tags(res);
          case "POST /api/embed":
            return embed(res, record, controller.signal);
          case "GET /api/version":
            return json(res, 200, { version: options.version ?? "0.33.0-rc2" });
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
      scheduler.close();
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    chats: () => requests.filter((r) => r.path === "/api/chat" && (r.body?.messages?.length ?? 0) > 0),
    loads: () => requests.filter((r) => r.path === "/api/chat" && r.body !== undefined && (r.body.messages?.length ?? 0) === 0),
    loadCounts: scheduler.loadCounts,
    reloads: scheduler.reloads,
    discardedLoads: scheduler.discardedLoads,
    log: scheduler.log,
    loadedModels: () => [...scheduler.loaded.values()].map((r) => r.display),
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
    get waiting() {
      return waiting;
    },
    get maxWaiting() {
      return maxWaiting;
    },
    setModel,
    removeModel: (name) => void models.delete(nameKey(name)),
    close: stop,
    kill: stop,
  };
}

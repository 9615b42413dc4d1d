import { ModelError } from "../errors/model-error.js";
import type { ChatChunk, ChatRequest, ModelBackend, PrewarmResult } from "../models/types.js";
import { delay as sleep } from "../shared/abort.js";

/** One step of a script: a chunk to send, a pause, or a failure. */
export type ScriptStep = ChatChunk | { type: "delay"; ms: number } | { type: "error"; message: string; code?: string };

/** Options of {@link scriptedBackend}. */
export interface ScriptedBackendOptions {
  /** The steps of every answer, or a function of the request. Default: the reply "Hello from the scripted model." */
  script?: ScriptStep[] | ((request: ChatRequest) => ScriptStep[]);
  /** Pause before the first chunk, ms. Default 0. */
  firstChunkDelayMs?: number;
  /** Pause between chunks, ms. Default 0. */
  chunkDelayMs?: number;
  /** Keep every request in `requests`. Turn off for long benchmarks. Default true. */
  record?: boolean;
  /** Models reported as loaded by `prewarm()`; others fail with "model not found". Default: any. */
  models?: string[];
}

/** A {@link ModelBackend} that plays a script: for tests, demos and benchmarks. */
export interface ScriptedBackend extends ModelBackend {
  /** Every request received, in order (unless `record` is false). */
  readonly requests: ChatRequest[];
  /** Streams in progress. */
  readonly active: number;
  /** Streams that stopped before their script ended because they were aborted or abandoned. */
  readonly cancelled: number;
}

/** Split text into word-sized text chunks (spaces kept), like a model's tokens. */
export function textChunks(text: string): ChatChunk[] {
  return (text.match(/\S+\s*|\s+/g) ?? []).map((t) => ({ type: "text", text: t }));
}

/** A scripted model backend with delays and failures on demand. */
export function scriptedBackend(options: ScriptedBackendOptions = {}): ScriptedBackend {
  const requests: ChatRequest[] = [];
  let active = 0;
  let cancelled = 0;
  const defaultScript = textChunks("Hello from the scripted model.");
  const scriptFor = (request: ChatRequest): ScriptStep[] => {
    const s = options.script ?? defaultScript;
    return typeof s === "function" ? s(request) : s;
  };

  async function* chat(request: ChatRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<ChatChunk> {
    if (options.record !== false) requests.push(request);
    active++;
    let settled = false;
    try {
      if (options.firstChunkDelayMs) await sleep(options.firstChunkDelayMs, signal);
      let first = true;
      for (const step of scriptFor(request)) {
        if (signal.aborted) throw signal.reason;
        if (step.type === "delay") {
          await sleep(step.ms, signal);
          continue;
        }
        if (step.type === "error") {
          settled = true;
          throw new ModelError(step.message, step.code === undefined ? {} : { code: step.code });
        }
        if (!first && options.chunkDelayMs) await sleep(options.chunkDelayMs, signal);
        first = false;
        yield step;
      }
      if (signal.aborted) throw signal.reason;
      settled = true;
    } finally {
      if (!settled) cancelled++;
      active--;
    }
  }

  return {
    name: "scripted",
    requests,
    get active() {
      return active;
    },
    get cancelled() {
      return cancelled;
    },
    chat,
    async prewarm(models: string[]): Promise<PrewarmResult[]> {
      return models.map((model) =>
        !options.models || options.models.includes(model)
          ? { model, ok: true, loadMs: 0 }
          : { model, ok: false, loadMs: 0, error: `model "${model}" not found` },
      );
    },
    async loaded() {
      return options.models ?? [];
    },
  };
}

import type { ChatRequest } from "../models/types.js";
import type { RouteOptions } from "../routing/types.js";

/**
 * Options Ollama applies when it loads a model. Changing any of them for a loaded model makes
 * Ollama unload and reload it (seconds, the whole KV cache lost), so they are set once per
 * model in the backend options and a route's `options` can never override them.
 */
export interface OllamaLoadOptions {
  /** Context window, tokens. */
  num_ctx?: number;
  /** Prompt processing batch size. */
  num_batch?: number;
  /** Layers offloaded to the GPU. */
  num_gpu?: number;
  /** The GPU that holds small tensors. */
  main_gpu?: number;
  /** CPU threads. */
  num_thread?: number;
  /** Memory-map the model file. */
  use_mmap?: boolean;
  /** Lock the model in RAM. */
  use_mlock?: boolean;
}

/**
 * The option names that belong to loading (Ollama's runner options). They are removed from a
 * route's `options` and taken from the backend's settings for the model instead.
 */
export const LOAD_TIME_OPTION_KEYS: readonly string[] = [
  "num_ctx",
  "num_batch",
  "num_gpu",
  "main_gpu",
  "num_thread",
  "use_mmap",
  "use_mlock",
  "numa",
  "low_vram",
  "f16_kv",
  "vocab_only",
  "logits_all",
];
const LOAD_KEYS = new Set(LOAD_TIME_OPTION_KEYS);

/** Settings that can be given for all models and overridden per model. */
export interface OllamaModelSettings {
  /**
   * How long Ollama keeps the model loaded after a request: a duration string (`"30m"`,
   * `"1h30m"`, `"90s"`), a number of seconds, a negative value for "forever", `0` to unload
   * at once. Sent with every request, the pre-warm included. Default `"30m"` (Ollama's own
   * default is 5 minutes).
   */
  keepAlive?: string | number;
  /**
   * Load-time options, merged into every request for the model (and its pre-warm). Keep them
   * fixed: a request with other values makes Ollama reload the model.
   */
  load?: OllamaLoadOptions;
  /**
   * Dynamic context sizing: a few fixed `num_ctx` values, e.g. `[2048, 4096, 8192]`. Each
   * request gets the smallest one that fits an estimate of its prompt (characters / 3.5 plus
   * `num_predict`, or 512 when the route sets none); the largest when none fits. Replaces
   * `load.num_ctx`; pre-warming uses the smallest. Cost: every switch to another size reloads
   * the model (seconds, and the prompt's KV cache is lost), so use few sizes, far apart.
   */
  contextSizes?: readonly number[];
  /**
   * A model to answer instead when this one is missing (404) or fails before its first token
   * (load error, first-token deadline, error or dropped connection before any output). Not
   * used when the server is unreachable or busy, nor for the fallback itself. The `done`
   * chunk's `model` says which model answered.
   */
  fallbackModel?: string;
}

/** Options of {@link ollamaBackend}. */
export interface OllamaBackendOptions extends OllamaModelSettings {
  /** The Ollama server. Default `"http://127.0.0.1:11434"`. */
  host?: string;
  /** Headers sent with every request (e.g. a proxy's `Authorization`). */
  headers?: Record<string, string>;
  /** The `fetch` to use. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Settings per model name; they override the global ones field by field (`load` key by key). */
  models?: Record<string, OllamaModelSettings>;
  /**
   * Most requests in flight at once from this backend; others wait (the wait is reported as
   * `queueMs`). Match it to the server's `OLLAMA_NUM_PARALLEL`. Default 4.
   */
  concurrency?: number;
  /** Models loaded at once by `prewarm()`. Default 1 (loads compete for memory and disk). */
  prewarmConcurrency?: number;
  /**
   * Deadline for the first chunk of an answer, ms: covers a cold model load and the prompt
   * evaluation, so it is generous. Also bounds each pre-warm load. Default 60,000.
   */
  firstTokenTimeoutMs?: number;
  /** Deadline between two chunks of an answer, ms. Default 30,000. */
  idleTimeoutMs?: number;
  /** Keep models loaded: re-warm a model shortly before its keep-alive expires. Off by default. */
  refresh?: OllamaRefreshOptions;
  /**
   * The embedding model (e.g. `"nomic-embed-text"`): with it the backend has `embed()`, on
   * `/api/embed` (used by the semantic response cache). Its requests do not take a `concurrency`
   * slot and get the `keepAlive` of that model. Default: none (no `embed()`).
   */
  embedModel?: string;
}

/** The keep-alive refresher. */
export interface OllamaRefreshOptions {
  /** Default false. */
  enabled?: boolean;
  /**
   * Re-warm this long before the keep-alive expires, ms. Default 60,000; when the keep-alive is
   * shorter than that, halfway through it.
   */
  marginMs?: number;
  /** Only these models. Default: every model this backend has used or pre-warmed. */
  models?: readonly string[];
}

/** Defaults of {@link OllamaBackendOptions}. */
export const OLLAMA_DEFAULTS = {
  host: "http://127.0.0.1:11434",
  keepAlive: "30m",
  concurrency: 4,
  prewarmConcurrency: 1,
  firstTokenTimeoutMs: 60_000,
  idleTimeoutMs: 30_000,
  refreshMarginMs: 60_000,
  /** Tokens reserved for the answer when estimating the context of a route without `num_predict`. */
  answerReserveTokens: 512,
  /** Characters per token used to estimate the prompt size. */
  charsPerToken: 3.5,
} as const;

/** The settings that apply to one model. */
export interface ResolvedModelSettings {
  keepAlive: string | number;
  load: OllamaLoadOptions;
  contextSizes: readonly number[] | undefined;
  fallbackModel: string | undefined;
}

/** Merge the global settings with the model's own. */
export function settingsFor(options: OllamaBackendOptions, model: string): ResolvedModelSettings {
  const own = options.models?.[model];
  const contextSizes = own?.contextSizes ?? options.contextSizes;
  return {
    keepAlive: own?.keepAlive ?? options.keepAlive ?? OLLAMA_DEFAULTS.keepAlive,
    load: { ...options.load, ...own?.load },
    contextSizes: contextSizes && contextSizes.length > 0 ? [...contextSizes].sort((a, b) => a - b) : undefined,
    fallbackModel: own?.fallbackModel ?? options.fallbackModel,
  };
}

/** Estimated tokens a request needs: prompt characters / 3.5 plus the answer budget. */
export function estimateTokens(request: Pick<ChatRequest, "messages" | "tools" | "options">): number {
  let chars = 0;
  for (const m of request.messages) {
    chars += m.content.length;
    if (m.tool_calls) chars += JSON.stringify(m.tool_calls).length;
  }
  if (request.tools) chars += JSON.stringify(request.tools).length;
  const predict = request.options?.num_predict;
  const reserve = typeof predict === "number" && predict > 0 ? predict : OLLAMA_DEFAULTS.answerReserveTokens;
  return Math.ceil(chars / OLLAMA_DEFAULTS.charsPerToken) + reserve;
}

/** The smallest size that holds `tokens`, or the largest. */
export function pickContextSize(sizes: readonly number[], tokens: number): number {
  for (const size of sizes) if (size >= tokens) return size;
  return sizes[sizes.length - 1] as number;
}

/** The load-time options of a request for this model (num_ctx from `contextSizes` when set). */
export function loadOptionsFor(settings: ResolvedModelSettings, request?: Pick<ChatRequest, "messages" | "tools" | "options">): OllamaLoadOptions {
  if (!settings.contextSizes) return { ...settings.load };
  const num_ctx = request
    ? pickContextSize(settings.contextSizes, estimateTokens(request))
    : (settings.contextSizes[0] as number);
  return { ...settings.load, num_ctx };
}

/** A route's options without load-time keys, then the model's load options on top. */
export function requestOptions(route: RouteOptions | undefined, load: OllamaLoadOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (route) for (const [key, value] of Object.entries(route)) if (!LOAD_KEYS.has(key) && value !== undefined) out[key] = value;
  for (const [key, value] of Object.entries(load)) if (value !== undefined) out[key] = value;
  return out;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g;

/**
 * A keep-alive value in ms, as Ollama reads it: numbers are seconds, strings Go durations.
 * `Infinity` for negative values (forever). Throws a RangeError for anything else.
 */
export function keepAliveMs(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`ollamaBackend: keepAlive ${value} is not a finite number of seconds.`);
    return value < 0 ? Infinity : value * 1000;
  }
  const text = value.trim();
  if (text === "0") return 0;
  if (!DURATION.test(text)) {
    throw new RangeError(
      `ollamaBackend: keepAlive "${value}" is not a duration: use a number of seconds or a string such as "30m", "1h30m", "90s".`,
    );
  }
  let ms = 0;
  for (const match of text.matchAll(PART)) ms += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  return text.startsWith("-") ? Infinity : ms;
}

/** Check the options once, at creation: bad settings are programming errors. */
export function checkOptions(options: OllamaBackendOptions): void {
  const positive = (name: string, v: number | undefined, integer: boolean) => {
    if (v === undefined) return;
    if (!(typeof v === "number" && v > 0 && (!integer || Number.isInteger(v)))) {
      throw new RangeError(`ollamaBackend: \`${name}\` must be a positive ${integer ? "integer" : "number"}, got ${String(v)}.`);
    }
  };
  positive("concurrency", options.concurrency, true);
  positive("prewarmConcurrency", options.prewarmConcurrency, true);
  positive("firstTokenTimeoutMs", options.firstTokenTimeoutMs, false);
  positive("idleTimeoutMs", options.idleTimeoutMs, false);
  if (options.refresh?.marginMs !== undefined && !(options.refresh.marginMs >= 0)) {
    throw new RangeError("ollamaBackend: `refresh.marginMs` must be 0 or more.");
  }
  const all: Array<[string, OllamaModelSettings]> = [["(global)", options], ...Object.entries(options.models ?? {})];
  for (const [name, s] of all) {
    if (s.keepAlive !== undefined) keepAliveMs(s.keepAlive);
    for (const size of s.contextSizes ?? []) {
      if (!(Number.isInteger(size) && size > 0)) {
        throw new RangeError(`ollamaBackend: contextSizes of ${name} must be positive integers, got ${String(size)}.`);
      }
    }
  }
}

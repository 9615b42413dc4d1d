import type { ChatRequest, ThinkSetting } from "../models/types.js";
import type { RouteOptions } from "../routing/types.js";

/**
 * Options Ollama applies when it loads a model: its `api.Runner` options (`api/types.go`).
 * Changing any of them for a loaded model makes Ollama unload and reload it (`server/sched.go`
 * `needsReload`: seconds, the whole KV cache lost), so they are set once per model in the backend
 * options and a route's `options` can never override them.
 */
export interface OllamaLoadOptions {
  /** Context window, tokens (Ollama clamps it to the model's training context). */
  num_ctx?: number;
  /** Prompt processing batch size. */
  num_batch?: number;
  /** Layers offloaded to the GPU. A negative value (automatic) never makes Ollama reload. */
  num_gpu?: number;
  /** The GPU that holds small tensors. */
  main_gpu?: number;
  /** CPU threads. */
  num_thread?: number;
  /** Memory-map the model file. */
  use_mmap?: boolean;
  /** Tokens drafted per step by a draft model (speculative decoding; Ollama ≥ 0.30). */
  draft_num_predict?: number;
  /**
   * @deprecated Ollama 0.7 removed this option and ignores it ("invalid option provided"); the
   * backend no longer sends it.
   */
  use_mlock?: boolean;
}

/**
 * The option names that belong to loading: the fields of Ollama's `api.Runner`, which
 * `needsReload` compares. They are removed from a route's `options` and taken from the backend's
 * settings for the model instead.
 */
export const LOAD_TIME_OPTION_KEYS: readonly string[] = [
  "num_ctx",
  "num_batch",
  "num_gpu",
  "main_gpu",
  "num_thread",
  "use_mmap",
  "draft_num_predict",
];
const LOAD_KEYS = new Set(LOAD_TIME_OPTION_KEYS);

/**
 * Options Ollama removed in 0.7 (it ignores them with the warning "invalid option provided",
 * `api/types.go` `Options.FromMap`): never sent.
 */
export const REMOVED_OPTION_KEYS: readonly string[] = ["use_mlock", "numa", "low_vram", "f16_kv", "vocab_only", "logits_all"];
const REMOVED_KEYS = new Set(REMOVED_OPTION_KEYS);

/** Settings that can be given for all models and overridden per model. */
export interface OllamaModelSettings {
  /**
   * How long Ollama keeps the model loaded after a request: a duration string (`"30m"`,
   * `"1h30m"`, `"90s"`), a number of seconds, a negative value for "forever", `0` to unload
   * at once. Sent with every request, the pre-warm included. Default `"30m"` (Ollama's own
   * default is 5 minutes). Read as Ollama reads it (`api/types.go` `Duration`, Go's
   * `time.ParseDuration`); surrounding spaces are trimmed before it is sent, and anything else
   * Ollama would answer 400 for is rejected when the backend is created.
   */
  keepAlive?: string | number;
  /**
   * Thinking when a request does not say (`ChatRequest.think`): `false`, `true`, or a level
   * (`"low"`, `"medium"`, `"high"`). Default `false`, always sent: since Ollama 0.12.4 a model
   * that can think thinks when `think` is omitted (`server/routes.go` `ChatHandler`). When a
   * model cannot think, Ollama answers 400 (`"x" does not support thinking`): the backend then
   * retries once without thinking and remembers it for that model.
   */
  think?: ThinkSetting;
  /**
   * Load-time options, merged into every request for the model (and its pre-warm). Keep them
   * fixed: a request with other values makes Ollama reload the model. `use_mlock` is ignored.
   */
  load?: OllamaLoadOptions;
  /**
   * Dynamic context sizing: a few fixed `num_ctx` values, e.g. `[2048, 4096, 8192]`. Each
   * request gets the smallest one that fits an estimate of its prompt (characters / 3.5 plus
   * `num_predict`, or 512 when the route sets none); the largest when none fits. Replaces
   * `load.num_ctx`. A pre-warm, and the refresher's re-warm, use the size of the model's last
   * request (the smallest before any). Cost: every switch to another size reloads the model
   * (seconds, and the prompt's KV cache is lost), so use few sizes, far apart.
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
   * Most requests in flight at once per model from this backend; others wait here, before any
   * byte is sent (the wait is reported as `queueMs` and does not count against any deadline).
   * Match it to the server's `OLLAMA_NUM_PARALLEL`, which is per model and 1 by default
   * (`envconfig/config.go` `NumParallel`): requests beyond it would wait inside Ollama, unseen,
   * against `firstTokenTimeoutMs`. Default 1.
   */
  concurrency?: number;
  /** Models loaded at once by `prewarm()`. Default 1 (loads compete for memory and disk). */
  prewarmConcurrency?: number;
  /**
   * Deadline for the first chunk of an answer from a loaded model, ms (the prompt evaluation).
   * A model that is not loaded gets `loadTimeoutMs` for its load first. Default 60,000.
   * `Infinity` (like every deadline here): none, and no timer.
   */
  firstTokenTimeoutMs?: number;
  /**
   * Deadline for a model load, ms: a pre-warm, or a request to a model that is not loaded (or
   * must reload). Ollama discards a load when the request that started it goes away
   * (`server/sched.go` `load`, `llm/llama_server.go` `WaitUntilRunning`), so a shorter deadline
   * than the load takes means the model never loads. Default 300,000, Ollama's own
   * `OLLAMA_LOAD_TIMEOUT` default (`envconfig/config.go` `LoadTimeout`). Whether a model is
   * loaded comes from this backend's own requests and, when a deadline passes, from `/api/ps`.
   */
  loadTimeoutMs?: number;
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
  /** `OLLAMA_NUM_PARALLEL`'s default. */
  concurrency: 1,
  prewarmConcurrency: 1,
  firstTokenTimeoutMs: 60_000,
  /** `OLLAMA_LOAD_TIMEOUT`'s default, 5 minutes. */
  loadTimeoutMs: 300_000,
  think: false,
  idleTimeoutMs: 30_000,
  refreshMarginMs: 60_000,
  /** Tokens reserved for the answer when estimating the context of a route without `num_predict`. */
  answerReserveTokens: 512,
  /** Characters per token used to estimate the prompt size. */
  charsPerToken: 3.5,
} as const;

/** The settings that apply to one model. */
export interface ResolvedModelSettings {
  /** Normalised: trimmed, as sent. */
  keepAlive: string | number;
  think: ThinkSetting;
  load: OllamaLoadOptions;
  contextSizes: readonly number[] | undefined;
  fallbackModel: string | undefined;
}

/** Merge the global settings with the model's own. */
export function settingsFor(options: OllamaBackendOptions, model: string): ResolvedModelSettings {
  const own = options.models?.[model];
  const contextSizes = own?.contextSizes ?? options.contextSizes;
  return {
    keepAlive: normaliseKeepAlive(own?.keepAlive ?? options.keepAlive ?? OLLAMA_DEFAULTS.keepAlive),
    think: own?.think ?? options.think ?? OLLAMA_DEFAULTS.think,
    load: withoutRemoved({ ...options.load, ...own?.load }),
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
export function loadOptionsFor(
  settings: ResolvedModelSettings,
  request?: Pick<ChatRequest, "messages" | "tools" | "options">,
): OllamaLoadOptions {
  if (!settings.contextSizes) return { ...settings.load };
  const num_ctx = request ? pickContextSize(settings.contextSizes, estimateTokens(request)) : (settings.contextSizes[0] as number);
  return { ...settings.load, num_ctx };
}

/** Load options without the keys Ollama removed. */
function withoutRemoved(load: OllamaLoadOptions): OllamaLoadOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(load)) if (!REMOVED_KEYS.has(key) && value !== undefined) out[key] = value;
  return out as OllamaLoadOptions;
}

/** A route's options without load-time (or removed) keys, then the model's load options on top. */
export function requestOptions(route: RouteOptions | undefined, load: OllamaLoadOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (route)
    for (const [key, value] of Object.entries(route))
      if (!LOAD_KEYS.has(key) && !REMOVED_KEYS.has(key) && value !== undefined) out[key] = value;
  for (const [key, value] of Object.entries(load)) if (!REMOVED_KEYS.has(key) && value !== undefined) out[key] = value;
  return out;
}

/**
 * Whether Ollama would reload a model loaded with `loaded` for a request with `next`, as
 * `server/sched.go` `needsReload` decides: the `api.Runner` options compared as a whole, except
 * that a negative `num_gpu` in the request never reloads. An option set on one side only counts
 * as a change (the server's default is not known here), so the answer errs towards "reload".
 */
export function needsReload(loaded: OllamaLoadOptions, next: OllamaLoadOptions): boolean {
  for (const key of LOAD_TIME_OPTION_KEYS) {
    if (key === "num_gpu" && typeof next.num_gpu === "number" && next.num_gpu < 0) continue;
    if ((loaded as Record<string, unknown>)[key] !== (next as Record<string, unknown>)[key]) return true;
  }
  return false;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Go's `time.ParseDuration` grammar: a sign, then `<number><unit>` parts; `"0"` alone needs no unit. */
const DURATION = /^[+-]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
/** Go's `time.Duration` holds at most `math.MaxInt64` ns. */
const MAX_DURATION_MS = 9_223_372_036_854.775;

/**
 * A keep-alive value as it is sent: strings trimmed, then checked as Ollama checks them
 * (`api/types.go` `Duration.UnmarshalJSON`: a number of seconds, or a Go duration string such as
 * `"30m"`, `"1h30m"`, `"90s"`, `"-1m"`). Throws a RangeError, naming the value, for anything
 * Ollama would answer 400 for.
 */
export function normaliseKeepAlive(value: string | number): string | number {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`ollamaBackend: keepAlive ${value} is not a finite number of seconds.`);
    return value;
  }
  if (typeof value !== "string")
    throw new RangeError(`ollamaBackend: keepAlive must be a string or a number of seconds, got ${typeof value}.`);
  const text = value.trim();
  let ms = 0;
  for (const match of text.matchAll(PART)) ms += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  if (!DURATION.test(text) || ms > MAX_DURATION_MS) {
    throw new RangeError(
      `ollamaBackend: keepAlive ${JSON.stringify(value)} is not a duration Ollama accepts: use a number of seconds or a Go duration such as "30m", "1h30m", "90s" (a unit is required, except for "0").`,
    );
  }
  return text;
}

/**
 * A keep-alive value in ms, as Ollama reads it: numbers are seconds, strings Go durations.
 * `Infinity` for negative values (forever). Throws a RangeError for anything else.
 */
export function keepAliveMs(value: string | number): number {
  const normalised = normaliseKeepAlive(value);
  if (typeof normalised === "number") return normalised < 0 ? Infinity : normalised * 1000;
  let ms = 0;
  for (const match of normalised.matchAll(PART)) ms += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  return normalised.startsWith("-") && ms > 0 ? Infinity : ms;
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
  positive("loadTimeoutMs", options.loadTimeoutMs, false);
  positive("idleTimeoutMs", options.idleTimeoutMs, false);
  if (options.refresh?.marginMs !== undefined && !(options.refresh.marginMs >= 0)) {
    throw new RangeError("ollamaBackend: `refresh.marginMs` must be 0 or more.");
  }
  const all: Array<[string, OllamaModelSettings]> = [["(global)", options], ...Object.entries(options.models ?? {})];
  for (const [name, s] of all) {
    if (s.keepAlive !== undefined) keepAliveMs(s.keepAlive);
    if (s.think !== undefined && typeof s.think !== "boolean" && !["low", "medium", "high"].includes(s.think)) {
      throw new RangeError(
        `ollamaBackend: think of ${name} must be true, false, "low", "medium" or "high", got ${JSON.stringify(s.think)}.`,
      );
    }
    for (const size of s.contextSizes ?? []) {
      if (!(Number.isInteger(size) && size > 0)) {
        throw new RangeError(`ollamaBackend: contextSizes of ${name} must be positive integers, got ${String(size)}.`);
      }
    }
  }
}

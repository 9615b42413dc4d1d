import os from "node:os";
import type { RouteOptions } from "../routing/types.js";
import type { GpuOption, LogLevel } from "./engine.js";
import { LlamaCppError } from "./errors.js";

/** Options of {@link llamaCppBackend}. */
export interface LlamaCppBackendOptions {
  /** GGUF file used for every model name that `models` does not list. */
  modelPath?: string;
  /** Model names (as the router picks them) → GGUF files. Names that share a file share one loaded model. */
  models?: Record<string, string>;
  /**
   * CPU threads llama.cpp uses. Default {@link defaultThreads}: half the logical CPUs, 1 to 4.
   * More threads than physical cores (or than the machine has free) make generation many times
   * slower, not faster; a tiny model is fastest on 1.
   */
  threads?: number;
  /** Tokens each context sequence holds (prompt + answer). Default 4,096. */
  contextSize?: number;
  /**
   * Context sequences kept per loaded model: how many conversations keep their evaluated prompt
   * (KV cache) between turns. Memory grows with `sequences × contextSize`. Default 4.
   */
  sequences?: number;
  /** Requests generating at once, over all models (more wait, `queueMs`). At most `sequences`. Default: `sequences`. */
  concurrency?: number;
  /** Most tokens generated when a request sets no positive `num_predict`. Default 1,024. */
  maxTokens?: number;
  /** Generation options (Ollama names) under every request's own `options`. Default none (greedy sampling). */
  defaultOptions?: RouteOptions;
  /** `false` (CPU only), `"auto"` (a GPU when a prebuilt binary works, else the CPU), or a GPU type. Default `false`. */
  gpu?: GpuOption;
  /** The prompt template: `"auto"` (from the model file) or a node-llama-cpp chat wrapper name (`"llama3.1"`, `"chatML"`, `"general"`, …). Default `"auto"`. */
  chatWrapper?: string;
  /** llama.cpp's log level. Default `"warn"`. */
  logLevel?: LogLevel;
  /** The backend's name in metrics and usage. Default `"llama-cpp"`. */
  name?: string;
}

/**
 * The default thread count: half the logical CPUs (about the physical cores where each core runs
 * two hardware threads), at least 1 and at most 4. llama.cpp's threads wait for each other at
 * every layer, so threads that share a core, or a busy machine, slow generation down many times
 * (on a busy 2-CPU machine the tiny test model generated tens of times faster on 1 thread than
 * on 2; `npm run demo` prints the speed for a given `ZOE_THREADS`).
 */
export function defaultThreads(logicalCpus: number = os.availableParallelism()): number {
  return Math.max(1, Math.min(4, Math.floor(logicalCpus / 2)));
}

/** Defaults of {@link LlamaCppBackendOptions}. */
export const LLAMA_CPP_DEFAULTS = {
  contextSize: 4096,
  sequences: 4,
  maxTokens: 1024,
  gpu: false,
  chatWrapper: "auto",
  logLevel: "warn",
  name: "llama-cpp",
} as const;

export interface ResolvedOptions {
  modelPath: string | undefined;
  models: ReadonlyMap<string, string>;
  threads: number;
  contextSize: number;
  sequences: number;
  concurrency: number;
  maxTokens: number;
  defaultOptions: RouteOptions;
  gpu: GpuOption;
  chatWrapper: string;
  logLevel: LogLevel;
  name: string;
}

const GPU_VALUES: readonly unknown[] = [false, "auto", "cuda", "vulkan", "metal"];
const LOG_LEVELS: readonly unknown[] = ["disabled", "fatal", "error", "warn", "info", "log", "debug"];

function invalid(message: string): never {
  throw new LlamaCppError("INVALID_OPTIONS", `llamaCppBackend: ${message}`);
}

function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1)
    invalid(`\`${name}\` must be a positive integer (got ${String(value)}).`);
  return value;
}

const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim().length > 0;

/** Validate the options and fill in the defaults. Throws `INVALID_OPTIONS`. */
export function resolveOptions(options: LlamaCppBackendOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) invalid("options must be an object.");
  if (options.modelPath !== undefined && !nonEmpty(options.modelPath)) invalid("`modelPath` must be a non-empty string.");
  const models = new Map<string, string>();
  if (options.models !== undefined) {
    if (typeof options.models !== "object" || options.models === null) invalid("`models` must map model names to GGUF paths.");
    for (const [name, path] of Object.entries(options.models)) {
      if (!nonEmpty(path)) invalid(`the path of model "${name}" must be a non-empty string.`);
      models.set(name, path);
    }
  }
  if (options.modelPath === undefined && models.size === 0) invalid("give `modelPath` or `models` (the GGUF file(s) to run).");
  const sequences = positiveInt(options.sequences, "sequences", LLAMA_CPP_DEFAULTS.sequences);
  const concurrency = positiveInt(options.concurrency, "concurrency", sequences);
  if (concurrency > sequences)
    invalid(`\`concurrency\` (${concurrency}) cannot exceed \`sequences\` (${sequences}): a sequence is never shared.`);
  const gpu = options.gpu ?? LLAMA_CPP_DEFAULTS.gpu;
  if (!GPU_VALUES.includes(gpu)) invalid(`\`gpu\` must be one of false, "auto", "cuda", "vulkan", "metal".`);
  const logLevel = options.logLevel ?? LLAMA_CPP_DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(logLevel)) invalid(`\`logLevel\` must be one of ${LOG_LEVELS.join(", ")}.`);
  const chatWrapper = options.chatWrapper ?? LLAMA_CPP_DEFAULTS.chatWrapper;
  if (!nonEmpty(chatWrapper)) invalid("`chatWrapper` must be a chat wrapper name.");
  return {
    modelPath: options.modelPath,
    models,
    threads: positiveInt(options.threads, "threads", defaultThreads()),
    contextSize: positiveInt(options.contextSize, "contextSize", LLAMA_CPP_DEFAULTS.contextSize),
    sequences,
    concurrency,
    maxTokens: positiveInt(options.maxTokens, "maxTokens", LLAMA_CPP_DEFAULTS.maxTokens),
    defaultOptions: { ...(options.defaultOptions ?? {}) },
    gpu,
    chatWrapper,
    logLevel,
    name: options.name ?? LLAMA_CPP_DEFAULTS.name,
  };
}

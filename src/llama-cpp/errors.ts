import { ModelError } from "../errors/model-error.js";

/** Stable codes of {@link LlamaCppError}. */
export const LLAMA_CPP_ERROR_CODES = {
  /** `node-llama-cpp` is not installed, or has no prebuilt binary for this platform. */
  BACKEND_UNAVAILABLE: "BACKEND_UNAVAILABLE",
  /** The options of `llamaCppBackend()` are invalid. */
  INVALID_OPTIONS: "INVALID_OPTIONS",
  /** The requested model name maps to no file (not in `models`, and no `modelPath`). */
  MODEL_NOT_FOUND: "MODEL_NOT_FOUND",
  /** The model file is missing, unreadable or not a valid GGUF file (the message names the path). */
  MODEL_LOAD_FAILED: "MODEL_LOAD_FAILED",
  /** The model loaded but its context could not be created (usually: not enough memory). */
  CONTEXT_CREATE_FAILED: "CONTEXT_CREATE_FAILED",
  /**
   * The prompt (system prompt, history, tools and message) has more tokens than a sequence's
   * `contextSize` holds: nothing was evaluated (the engine would silently drop part of it).
   */
  PROMPT_TOO_LONG: "PROMPT_TOO_LONG",
  /** The engine failed while evaluating or generating. */
  GENERATION_FAILED: "GENERATION_FAILED",
  /** The backend was closed. */
  BACKEND_CLOSED: "BACKEND_CLOSED",
} as const;

export type LlamaCppErrorCode = (typeof LLAMA_CPP_ERROR_CODES)[keyof typeof LLAMA_CPP_ERROR_CODES];

/** An error of the llama.cpp backend, with a stable {@link LlamaCppErrorCode}. */
export class LlamaCppError extends ModelError {
  declare readonly code: LlamaCppErrorCode;

  constructor(code: LlamaCppErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, { code, ...(options?.cause === undefined ? {} : { cause: options.cause }) });
    this.name = "LlamaCppError";
  }
}

export {
  llamaCppBackend,
  type LlamaCppBackend,
  type LlamaCppSequenceStats,
  type LlamaCppStats,
} from "./backend.js";
export { defaultThreads, LLAMA_CPP_DEFAULTS, type LlamaCppBackendOptions } from "./options.js";
export { LlamaCppError, LLAMA_CPP_ERROR_CODES, type LlamaCppErrorCode } from "./errors.js";
export type { GpuOption as LlamaCppGpu, LogLevel as LlamaCppLogLevel } from "./engine.js";

/**
 * `zoe-pipeline/ollama`: the Ollama model backend.
 * @module
 */
export { ollamaBackend, type OllamaBackend } from "./backend.js";
export {
  LOAD_TIME_OPTION_KEYS,
  OLLAMA_DEFAULTS,
  estimateTokens,
  pickContextSize,
  type OllamaBackendOptions,
  type OllamaLoadOptions,
  type OllamaModelSettings,
  type OllamaRefreshOptions,
} from "./options.js";
export {
  BackendBusyError,
  BackendClosedError,
  BackendResponseError,
  BackendUnreachableError,
  ConnectionLostError,
  FirstTokenTimeoutError,
  IdleTimeoutError,
  ModelNotFoundError,
  OLLAMA_ERROR_CODES,
  OllamaError,
  StreamError,
  StreamIncompleteError,
  type OllamaErrorCode,
  type OllamaErrorContext,
} from "./errors.js";

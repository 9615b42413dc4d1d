/**
 * `zoe-pipeline/ollama`: the Ollama model backend.
 * @module
 */
export { ollamaBackend, type OllamaBackend } from "./backend.js";
export { normaliseModelName } from "./refresher.js";
export {
  LOAD_TIME_OPTION_KEYS,
  OLLAMA_DEFAULTS,
  REMOVED_OPTION_KEYS,
  estimateTokens,
  keepAliveMs,
  needsReload,
  normaliseKeepAlive,
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
  LoadTimeoutError,
  ModelNotFoundError,
  OLLAMA_ERROR_CODES,
  OllamaError,
  StreamError,
  StreamIncompleteError,
  UnexpectedResponseError,
  type OllamaErrorCode,
  type OllamaErrorContext,
} from "./errors.js";

/**
 * `zoe-pipeline/openai-compatible`: a model backend for servers that speak the OpenAI
 * chat-completions protocol (vLLM, the llama.cpp server, SGLang, LM Studio, LocalAI, Ollama `/v1`).
 * @module
 */
export { openAiCompatibleBackend, type OpenAiCompatibleBackend } from "./backend.js";
export { OPENAI_COMPATIBLE_DEFAULTS, type OpenAiCompatibleBackendOptions, type ThinkFormat } from "./options.js";
export {
  OPENAI_COMPATIBLE_ERROR_CODES,
  OpenAiCompatibleError,
  type OpenAiCompatibleErrorCode,
  type OpenAiCompatibleErrorContext,
} from "./errors.js";
export { optionFields, thinkFields, toOpenAiMessages, type OpenAiMessage } from "./request-body.js";

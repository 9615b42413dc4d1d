export { AnswerCache, canonicalJson, requestHash, type AnswerLookup, type SemanticProbe } from "./answer-cache.js";
export { replayAnswer, semanticText, wordChunks } from "./run-helpers.js";
export {
  RESPONSE_CACHE_DEFAULTS,
  type AnswerCacheMetrics,
  type EmbedFn,
  type ResponseCacheOptions,
  type SemanticCacheOptions,
  type SemanticStatus,
} from "./types.js";

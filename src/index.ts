export { createZoePipeline, DEFAULT_SYSTEM_PROMPT, PIPELINE_DEFAULTS } from "./pipeline/create-pipeline.js";
export { DEADLINE_DEFAULTS, type RunDeadlines } from "./pipeline/deadlines.js";
export { INPUT_LIMITS } from "./input/limits.js";
export type {
  PipelineEvents,
  PipelineHistory,
  RunOptions,
  SystemPromptFn,
  ZoePipeline,
  ZoePipelineOptions,
} from "./pipeline/types.js";
export type { CachePart, HitMiss, RunMetrics } from "./pipeline/metrics.js";
export {
  isRunMetrics,
  isZoeRunResult,
  isZoeState,
  runResult,
  ZOE_METRICS_EVENT,
  zoeMetrics,
  zoeState,
  type ZoeAnswerCacheState,
  type ZoeCancelledResult,
  type ZoeCompletedResult,
  type ZoePendingToolCall,
  type ZoeProviderState,
  type ZoeRouteState,
  type ZoeRunResult,
  type ZoeStage,
  type ZoeState,
} from "./events/payloads.js";
export type { CachePartStats, PipelineMetricsSnapshot, StageName } from "./metrics/aggregator.js";
export type { LatencySummary } from "./metrics/sample-window.js";
export {
  AUTO_TUNE_DEFAULTS,
  type AutoTuneNumPredictOptions,
  type AutoTuneOptions,
  type AutoTuneProviderOptions,
  type AutoTuneSnapshot,
} from "./metrics/auto-tune.js";

export { memoryCacheStore, type MemoryCacheStoreOptions } from "./cache/memory-store.js";
export { createKeyBuilder, type KeyBuilder } from "./cache/keys.js";
export { type FlightControl, SharedFlights } from "./cache/shared-flights.js";
export type { CacheBatch, CacheBatchResult, CacheStore, ListAppendOptions } from "./cache/types.js";

export { PROVIDER_DEFAULTS } from "./context/fetch-context.js";
export type { ContextProvider, ContextRequest, ProviderOutcome, ProviderStatus } from "./context/types.js";

export { heuristicRouter, type HeuristicRouterOptions } from "./routing/heuristic-router.js";
export { classifyTurn } from "./routing/classify-turn.js";
export { ROUTE_KINDS, type RouteDecision, type RouteKind, type RouteOptions, type RouteRequest, type Router } from "./routing/types.js";

export type {
  ChatChunk,
  ChatDoneInfo,
  ChatMessage,
  ChatRequest,
  ChatToolCall,
  ChatToolDefinition,
  ModelBackend,
  PrewarmResult,
  ThinkSetting,
} from "./models/types.js";

export type {
  CodeBlock,
  CodeContext,
  CodeExecutor,
  CodeResult,
  ServerTool,
  ToolCatalogueProvider,
  ToolContext,
  ToolSpec,
} from "./tools/types.js";
export { createFenceDetector } from "./tools/code-fences.js";

export { HISTORY_DEFAULTS, type HistoryEntry, type HistoryOptions } from "./history/types.js";
export { windowStart } from "./history/window.js";
export { buildPrompt, type BuiltPrompt, type PromptParts } from "./prompt/build-prompt.js";

export { createAgUiResponse, type AgUiResponseOptions } from "./adapters/web-response.js";
export { AGUI_PROTO_MEDIA_TYPE, type HttpErrorBody } from "./adapters/start-run.js";

export type { RunInput, ShorthandInput, ZoeRunAgentInput } from "./input/types.js";
export { ZoeError, InputError, INPUT_ERROR_CODES, ModelError, type ZoeErrorCode } from "./errors/index.js";
export { EventType, type AGUIEvent } from "@ag-ui/core";

export { RESPONSE_CACHE_DEFAULTS, requestHash } from "./response-cache/index.js";
export type { AnswerCacheMetrics, EmbedFn, ResponseCacheOptions, SemanticCacheOptions, SemanticStatus } from "./response-cache/index.js";

export { dedupeBackend, requestKey, stableJson, type DedupeBackend, type DedupeOptions, type DedupeStats } from "./backends/dedupe.js";
export {
  backendPool,
  defaultThreadKey,
  isHostFailure,
  HOST_FAILURE_CODES,
  POOL_DEFAULTS,
  type BackendPool,
  type BackendPoolOptions,
  type PoolHost,
  type PoolHostStats,
} from "./backends/pool.js";

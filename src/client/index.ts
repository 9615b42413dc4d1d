/**
 * `zoe-pipeline/client`: what a browser (or any AG-UI client) needs to read a zoe run, without
 * the Node-only server code: the payload types and the helpers that narrow them.
 */
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
} from "../events/payloads.js";
export type { CachePart, HitMiss, RunMetrics } from "../pipeline/metrics.js";
export type { ProviderStatus } from "../context/types.js";
export type { RouteDecision, RouteKind, RouteOptions } from "../routing/types.js";
export type { AnswerCacheMetrics, SemanticStatus } from "../response-cache/types.js";
export { EventType } from "@ag-ui/core";

/**
 * Typed views of what a run puts in its AG-UI events: the `zoe` object in state, the
 * `RUN_FINISHED` result and the `zoe.metrics` CUSTOM event. AG-UI types these as `unknown` (or
 * `any` in `@ag-ui/client`); the helpers here check the shape at run time and hand back typed
 * values, so an application reads them without casts. Browser-safe: nothing here imports Node
 * modules (it is also the `zoe-pipeline/client` entry).
 */
import type { ProviderStatus } from "../context/types.js";
import type { RunMetrics } from "../pipeline/metrics.js";
import type { RouteDecision } from "../routing/types.js";

/** The name of the CUSTOM event that carries a run's {@link RunMetrics}. */
export const ZOE_METRICS_EVENT = "zoe.metrics";

/** Where a run is: `route` → `context` → `generate` → `done`. */
export type ZoeStage = "route" | "context" | "generate" | "done";

const STAGES: readonly string[] = ["route", "context", "generate", "done"] satisfies readonly ZoeStage[];

/** One context provider in state: `pending` in the first snapshot, then its outcome. */
export interface ZoeProviderState {
  status: ProviderStatus | "pending";
  /** Time the run waited for it, ms (absent while pending). */
  ms?: number;
  /** What went wrong (status `error`, or `timeout`). */
  error?: string;
}

/** The route decision in state (`/zoe/route`). */
export interface ZoeRouteState extends RouteDecision {
  /** The decision came from the route cache. */
  cached: boolean;
  /** Why the fallback router decided instead of the pipeline's router, when it did. */
  fallback?: string;
}

/** The response cache's lookup in state (`/zoe/answerCache`, only when `responseCache` is on). */
export type ZoeAnswerCacheState = { hit: false } | { hit: true; kind: "exact" | "semantic"; similarity?: number };

/**
 * The `zoe` object a run keeps in the AG-UI state, next to the client's own state. The first
 * `STATE_SNAPSHOT` holds `runId`, `stage` and every provider as `pending`; `STATE_DELTA`
 * patches add the rest as it becomes known.
 */
export interface ZoeState {
  runId: string;
  stage: ZoeStage;
  /** Each context provider by name. */
  providers: Record<string, ZoeProviderState>;
  /** Added when the route is decided. */
  route?: ZoeRouteState;
  /** Added before generation when the response cache is on. */
  answerCache?: ZoeAnswerCacheState;
  /** Added when a `systemPrompt` function failed and the default prompt was used. */
  systemPrompt?: { fallback: string };
}

/**
 * A tool call the run left for the client: the model called a frontend tool (one the client
 * declared in the AG-UI input's `tools`). The client runs it and sends the result as a `tool`
 * message (with `toolCallId: id`) in its next run, which continues the conversation.
 */
export interface ZoePendingToolCall {
  /** The tool call id (the `toolCallId` of its `TOOL_CALL_*` events). */
  id: string;
  /** The tool's name. */
  name: string;
  /** The arguments, as JSON text. */
  arguments: string;
}

/** `RUN_FINISHED.result` of a run that completed. */
export interface ZoeCompletedResult {
  cancelled?: false;
  metrics: RunMetrics;
  /**
   * Frontend tool calls waiting for the client, in the order the model made them (absent when
   * there are none). Their ids are also in `outcome.pendingToolCallIds`.
   */
  pendingToolCalls?: ZoePendingToolCall[];
}

/** `RUN_FINISHED.result` of a cancelled run (`outcome: { type: "cancelled" }`). */
export interface ZoeCancelledResult {
  cancelled: true;
}

/** What `RUN_FINISHED.result` holds. `if (result.cancelled)` tells the two apart. */
export type ZoeRunResult = ZoeCompletedResult | ZoeCancelledResult;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

function eventOfType(event: unknown, type: string): Record<string, unknown> | undefined {
  return isRecord(event) && event.type === type ? event : undefined;
}

/** True when `value` has the shape of {@link RunMetrics} (the fields every run sets). */
export function isRunMetrics(value: unknown): value is RunMetrics {
  return (
    isRecord(value) &&
    isNumber(value.totalMs) &&
    isRecord(value.stages) &&
    isRecord(value.providers) &&
    isRecord(value.tokens) &&
    isNumber(value.tokens.output) &&
    isRecord(value.cache) &&
    isNumber(value.cache.hits) &&
    isNumber(value.cache.misses) &&
    typeof value.fastPath === "boolean" &&
    typeof value.kind === "string" &&
    typeof value.model === "string"
  );
}

function isPendingToolCall(value: unknown): value is ZoePendingToolCall {
  return isRecord(value) && typeof value.id === "string" && typeof value.name === "string" && typeof value.arguments === "string";
}

/**
 * True when `value` is a zoe run result: use it on a result you already hold (`runAgent()`'s
 * `result`, the `result` of `onRunFinishedEvent`).
 */
export function isZoeRunResult(value: unknown): value is ZoeRunResult {
  if (!isRecord(value)) return false;
  if (value.cancelled === true) return true;
  return (
    isRunMetrics(value.metrics) &&
    (value.pendingToolCalls === undefined || (Array.isArray(value.pendingToolCalls) && value.pendingToolCalls.every(isPendingToolCall)))
  );
}

const PROVIDER_STATUSES: readonly string[] = [
  "pending",
  "ok",
  "cached",
  "timeout",
  "error",
  "skipped",
] satisfies readonly ZoeProviderState["status"][];

function isProviderState(value: unknown): value is ZoeProviderState {
  return (
    isRecord(value) &&
    typeof value.status === "string" &&
    PROVIDER_STATUSES.includes(value.status) &&
    (value.ms === undefined || isNumber(value.ms)) &&
    (value.error === undefined || typeof value.error === "string")
  );
}

function isRouteState(value: unknown): value is ZoeRouteState {
  return (
    isRecord(value) &&
    typeof value.model === "string" &&
    typeof value.kind === "string" &&
    typeof value.fastPath === "boolean" &&
    typeof value.reason === "string" &&
    typeof value.cached === "boolean" &&
    (value.confidence === undefined || isNumber(value.confidence)) &&
    (value.options === undefined || isRecord(value.options)) &&
    (value.fallback === undefined || typeof value.fallback === "string")
  );
}

function isAnswerCacheState(value: unknown): value is ZoeAnswerCacheState {
  if (!isRecord(value)) return false;
  if (value.hit === false) return true;
  return (
    value.hit === true &&
    (value.kind === "exact" || value.kind === "semantic") &&
    (value.similarity === undefined || isNumber(value.similarity))
  );
}

/**
 * True when `value` is the `zoe` object of a run's state: every field it has has its type, down to
 * each provider's entry, so that code typed against {@link ZoeState} cannot meet a `null` where it
 * reads a field (the state is the client's to send, and comes back in later runs).
 */
export function isZoeState(value: unknown): value is ZoeState {
  return (
    isRecord(value) &&
    typeof value.runId === "string" &&
    typeof value.stage === "string" &&
    STAGES.includes(value.stage) &&
    isRecord(value.providers) &&
    Object.values(value.providers).every(isProviderState) &&
    (value.route === undefined || isRouteState(value.route)) &&
    (value.answerCache === undefined || isAnswerCacheState(value.answerCache)) &&
    (value.systemPrompt === undefined || (isRecord(value.systemPrompt) && typeof value.systemPrompt.fallback === "string"))
  );
}

/**
 * The result of a `RUN_FINISHED` event, typed; undefined for any other event or a result that
 * is not a zoe result.
 *
 * @example
 * const result = runResult(event);
 * if (result && !result.cancelled) console.log(result.metrics.ttftMs, result.pendingToolCalls);
 */
export function runResult(event: unknown): ZoeRunResult | undefined {
  const result = eventOfType(event, "RUN_FINISHED")?.result;
  return isZoeRunResult(result) ? result : undefined;
}

/**
 * The `zoe` object of an AG-UI state (the whole state: a `STATE_SNAPSHOT`'s `snapshot`, or
 * `agent.state` in `@ag-ui/client` after the deltas were applied); undefined when there is none.
 */
export function zoeState(state: unknown): ZoeState | undefined {
  const zoe = isRecord(state) ? state.zoe : undefined;
  return isZoeState(zoe) ? zoe : undefined;
}

/** The metrics of a `zoe.metrics` CUSTOM event; undefined for any other event. */
export function zoeMetrics(event: unknown): RunMetrics | undefined {
  const custom = eventOfType(event, "CUSTOM");
  return custom && custom.name === ZOE_METRICS_EVENT && isRunMetrics(custom.value) ? custom.value : undefined;
}

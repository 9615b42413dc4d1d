import { fetchContext, type ProviderJob } from "../../context/fetch-context.js";
import type { ContextProvider, ProviderOutcome } from "../../context/types.js";
import { events, pointerSegment, type JsonPatchOp } from "../../events/factory.js";
import { abortReason } from "../../shared/abort.js";
import { isToolCatalogue } from "../../tools/tool-spec.js";
import { round } from "../metrics.js";
import { beginStage, countCache, endStage, finishStep, startStep, type RunContext } from "../run-context.js";
import { CANCELLED, type SpanHandle } from "../../telemetry/trace.js";
import type { Routed } from "./route.js";

/** The context stage's outcome: every provider's outcome, in the order they arrived. */
export interface ContextOutcome {
  outcomes: ProviderOutcome[];
  ms: number;
}

const runsOnFastPath = (p: ContextProvider) => p.fastPath ?? p.provides === "tools";

/**
 * The context stage: every provider at once, cached ones answered from the batched read, each
 * under its own deadline and isolated (a failure is that provider's outcome). The fast path skips
 * context providers, except those marked `fastPath` and stable ones served from the cache (which
 * keep the system prompt, and so the KV prefix, of the thread's other turns). Outcomes go out as
 * they land, those landing together as one state delta (the last group's with the next stage's),
 * and the providers fetched are also an AG-UI activity (`zoe.context`) that a UI can show as
 * progress.
 */
export async function contextStage(ctx: RunContext, routed: Routed): Promise<ContextOutcome> {
  const { deps, turn, signal, out } = ctx;
  const { decision } = routed;
  out.send(startStep(ctx, "context"));
  const span = beginStage(ctx, "context");
  const t0 = performance.now();
  const outcomes: ProviderOutcome[] = [];
  const jobs: ProviderJob[] = [];
  const skipped: JsonPatchOp[] = [];
  deps.providers.forEach((provider, i) => {
    const stored = provider.ttlMs === 0 ? undefined : routed.cachedContext.get(i);
    // On the fast path a stable provider still served from the cache is used (no wait): the system
    // prompt is then the one of the thread's other turns, and the model server keeps its KV prefix.
    if (decision.fastPath && !runsOnFastPath(provider) && (provider.placement !== "stable" || stored === undefined)) {
      outcomes.push({ name: provider.name, status: "skipped", ms: 0, placement: provider.placement ?? "volatile" });
      skipped.push({ op: "add", path: `/zoe/providers/${pointerSegment(provider.name)}`, value: { status: "skipped", ms: 0 } });
      return;
    }
    // A stored catalogue that is not one (written by something else) is a miss: the provider is asked again.
    const cached = provider.provides === "tools" && !isToolCatalogue(stored) ? undefined : stored;
    countCache(ctx, "context", cached !== undefined);
    jobs.push({ provider, key: routed.providerKeys[i] as ProviderJob["key"], cached, timeoutMs: deps.tune?.deadline(provider.name) });
  });
  // Providers fetched this run (not served from the cache): shown as an activity too.
  const fetching = new Set<string>();
  for (const j of jobs) if (j.cached === undefined && typeof j.key === "string") fetching.add(j.provider.name);
  const activityId = `${turn.runId}:context`;
  if (fetching.size > 0) {
    out.send(
      events.activitySnapshot(activityId, "zoe.context", {
        providers: Object.fromEntries([...fetching].map((name) => [name, { status: "pending" }])),
      }),
    );
  }
  const request = { userId: turn.userId, threadId: turn.threadId, text: turn.text, kind: decision.kind };
  // With tracing on, each provider fetched is a live span from before its fetch (which runs with
  // it active) until its outcome lands, or the run is cancelled.
  const spans = ctx.trace.enabled ? traceFetches(ctx, jobs, span) : undefined;
  // Outcomes that land together go out as one state delta (and one activity delta): those known
  // at once (skipped, cached, without a cache key), then each group of fetches that arrived
  // together. The last group's, after which nothing is pending, goes with the stage's own `add`
  // (`known`): a warm run's context step is one delta, and so is a run whose fetches answer at once.
  let unsent: JsonPatchOp[] = skipped;
  let known: JsonPatchOp[] | undefined;
  try {
    const landing = fetchContext(jobs, request, deps.store, deps.flights, signal, (landed, last) => {
      // A fetch that lands brings the run back from I/O: its events go out on the loop's next
      // turn, or with the model request if it was the last one.
      if (landed.length > 0) out.hold();
      const ops = unsent;
      unsent = [];
      const activity: JsonPatchOp[] = [];
      for (const outcome of landed) {
        outcomes.push(outcome);
        const value = noteOutcome(ctx, outcome);
        if (spans) endProviderSpan(ctx, spans, span, outcome);
        const segment = pointerSegment(outcome.name);
        ops.push({ op: "add", path: `/zoe/providers/${segment}`, value });
        if (fetching.has(outcome.name)) activity.push({ op: "replace", path: `/providers/${segment}`, value });
      }
      if (last) known = ops;
      else sendOps(out, ops);
      if (activity.length > 0) out.send(events.activityDelta(activityId, "zoe.context", activity));
    });
    // Only fetches are waited for: what was known at once has landed already.
    if (landing) await landing;
  } finally {
    // Fetches the run stopped waiting for (it was cancelled) end with it.
    if (spans) {
      for (const left of spans.values()) {
        left.set(CANCELLED);
        left.end();
      }
      spans.clear();
    }
  }
  if (signal.aborted) {
    // Cancelled from within the stage (a host listener, a provider's `format()`): the outcomes
    // that landed last still reach the client, as every earlier group did.
    if (known) sendOps(out, known);
    throw abortReason(signal);
  }
  const ms = performance.now() - t0;
  endStage(ctx, () => ({ "zoe.context.providers": outcomes.length }));
  for (const event of finishStep(ctx, "context", "generate", known)) out.send(event);
  return { outcomes, ms };
}

/** A provider's outcome told to the host (`provider:timeout`, `provider:error`); its value in the run's state. */
function noteOutcome(ctx: RunContext, outcome: ProviderOutcome): { status: ProviderOutcome["status"]; ms: number; error?: string } {
  const { deps, turn } = ctx;
  if (outcome.status === "timeout") deps.emitter.emit("provider:timeout", { name: outcome.name, userId: turn.userId, ms: outcome.ms });
  if (outcome.status === "error") {
    deps.emitter.emit("provider:error", { name: outcome.name, userId: turn.userId, ms: outcome.ms, error: outcome.error ?? "" });
  }
  return outcome.error
    ? { status: outcome.status, ms: round(outcome.ms), error: outcome.error }
    : { status: outcome.status, ms: round(outcome.ms) };
}

/** Send state patches as one delta, if there are any. */
function sendOps(out: RunContext["out"], ops: JsonPatchOp[]): void {
  if (ops.length > 0) out.send(events.stateDelta(ops));
}

/**
 * Start a live `zoe.provider {name}` span for each provider to be fetched, and have its fetch run
 * with that span active (the provider's own spans are its children). Only with tracing on.
 */
function traceFetches(ctx: RunContext, jobs: ProviderJob[], stage: SpanHandle): Map<string, SpanHandle> {
  const spans = new Map<string, SpanHandle>();
  const trace = ctx.trace;
  for (const job of jobs) {
    if (job.cached !== undefined || typeof job.key !== "string") continue;
    const span = trace.start(`zoe.provider ${job.provider.name}`, { "zoe.provider.name": job.provider.name }, stage);
    spans.set(job.provider.name, span);
    job.within = (fetch) => trace.within(span, fetch);
  }
  return spans;
}

/** End a provider's span with its outcome (one that was not fetched: cached, or no cache key, is a span of no length). */
function endProviderSpan(ctx: RunContext, spans: Map<string, SpanHandle>, stage: SpanHandle, outcome: ProviderOutcome): void {
  const live = spans.get(outcome.name);
  if (live) spans.delete(outcome.name);
  const span = live ?? ctx.trace.start(`zoe.provider ${outcome.name}`, { "zoe.provider.name": outcome.name }, stage);
  span.set({ "zoe.provider.status": outcome.status });
  if (outcome.status === "timeout" || outcome.status === "error") span.fail(outcome.status, outcome.status);
  span.end();
}

import type { AGUIEvent } from "@ag-ui/core";
import { toZoeError } from "../errors/zoe-error.js";
import { events } from "../events/factory.js";
import { abortReason } from "../shared/abort.js";
import { setEntry } from "../shared/own-entry.js";
import { abortOwned, hasAbortListeners } from "../shared/on-abort.js";
import { closeOpen, createRunContext, finishStep, startStep, type RunContext, type RunDeps } from "./run-context.js";
import { activeRun } from "./reports.js";
import { RunStream } from "./run-stream.js";
import { answerFromCache, generate, startAnswerProbe } from "./stages/answer.js";
import { contextStage } from "./stages/context.js";
import { finish } from "./stages/finish.js";
import { acceptInput, followHostSignal, refuse } from "./stages/input.js";
import { promptStage } from "./stages/prompt.js";
import { remember } from "./stages/remember.js";
import { releaseRead, routeStage, startRunRead } from "./stages/route.js";
import type { Turn } from "../input/types.js";
import type { RunOptions } from "./types.js";
import { CANCELLED } from "../telemetry/trace.js";
import { errorMessage } from "../errors/error-message.js";

export type { ActiveRun, RunDeps } from "./run-context.js";

/** The abort reason of a run that ended: one shared object, as building a DOMException per run costs a stack trace. */
const RUN_ENDED = new DOMException("The run ended.", "AbortError");

/**
 * One chat turn as a stream of AG-UI events. Never throws: bad input, failures and cancellation
 * all end the stream with a well-formed terminal event. The run starts on the consumer's first
 * `next()`; a consumer that leaves early stops it.
 */
export function runTurn(deps: RunDeps, rawInput: unknown, options: RunOptions): AsyncIterableIterator<AGUIEvent> {
  return new RunStream((out) => drive(deps, rawInput, options, out));
}

/**
 * The run: its input accepted (or refused), then {@link runAccepted}. Not an async function: the
 * run's frame, suspended for as long as the run streams, holds the parsed turn, never the raw
 * input (a client's whole conversation, which validation has already copied).
 */
function drive(deps: RunDeps, rawInput: unknown, options: RunOptions, out: RunStream): Promise<void> {
  try {
    const t0 = performance.now();
    const accepted = acceptInput(deps, rawInput, options);
    if ("refused" in accepted) {
      for (const event of accepted.refused) out.send(event);
      return Promise.resolve();
    }
    return runAccepted(deps, accepted.turn, accepted.signal, t0, out);
  } catch (error) {
    // A defect, passed on as an async function would: as a rejection.
    return Promise.reject(error);
  }
}

/**
 * An accepted run: its signal, its host events and its end, around its stages. Every failure
 * becomes the stream's terminal event here.
 */
async function runAccepted(deps: RunDeps, turn: Turn, signal: AbortSignal | undefined, t0: number, out: RunStream): Promise<void> {
  // The run's own signal: the caller's signal, `close()`, the consumer leaving and the run's end all abort it.
  // Owned: aborted only through `abortOwned` (here and in `close()`), its waits need no listener.
  // Made ahead, at the end of the run before (`SpareController`).
  const controller = deps.controllers.take();
  const outer = followHostSignal(signal, (reason) => abortOwned(controller, reason));
  if ("error" in outer) {
    for (const event of refuse(deps, turn, outer.error).refused) out.send(event);
    return;
  }
  const unhookOuter = outer.unhook;
  // The one cache read goes out first: the run's setup and first events are done while the store answers.
  const read = startRunRead(deps, turn, controller.signal);
  out.onLeave = () => abortOwned(controller, RUN_ENDED);
  // Reported started, then ended exactly once (`deps.reports`): a run abandoned in between, or
  // interrupted by `close()`, reports `run:cancelled`.
  const run = activeRun(controller, { threadId: turn.threadId, runId: turn.runId, userId: turn.userId });
  deps.runs.add(run);
  const ctx = createRunContext(deps, turn, run, controller.signal, t0, out);
  ctx.trace = deps.tracing.run("invoke_agent zoe", {
    "gen_ai.operation.name": "invoke_agent",
    "gen_ai.agent.name": "zoe",
    "gen_ai.conversation.id": turn.threadId,
    "zoe.run_id": turn.runId,
  });

  // The events that can wait go out once the model request has been handed to the backend, or
  // once the run waits on I/O (`hold`, held again by each stage that comes back from I/O): a run
  // prepares its prompt producing a dozen events, and delivering each (an SSE frame, a UI
  // update) first would delay the model.
  out.hold();
  let completed = false;
  try {
    // The run's stages, top to bottom: route → context → prompt → answer (response cache, or the
    // model with its tools) → remember → finish. Each stage lives in `stages/`, sends its own
    // events and returns what the next one needs; what they throw becomes the stream's end below.
    // Here rather than in a function of their own: a run holds one suspended async frame less
    // while it streams (about 0.5 KB, which the garbage collector copies when many runs are in
    // flight at once), and its stages' end reaches this frame without a promise in between.
    out.send(events.runStarted(turn.threadId, turn.runId));
    deps.reports.started(run);
    out.send(events.stateSnapshot(withZoe(turn.state, { runId: turn.runId, stage: "route", providers: pendingProviders(deps) })));

    const routed = await routeStage(ctx, read);
    const probe = startAnswerProbe(ctx, routed); // the semantic cache's embedding runs alongside the context
    const context = await contextStage(ctx, routed);

    out.send(startStep(ctx, "generate"));
    const prompted = await promptStage(ctx, routed, context);
    releaseRead(routed);
    // Without a response cache there is nothing to look up, and nothing to wait for.
    const cached = deps.answers ? await answerFromCache(ctx, prompted, probe) : NOT_CACHED;
    const answer = cached.answer ?? (await generate(ctx, prompted, cached.lookup));
    for (const event of finishStep(ctx, "generate", "done")) out.send(event);

    // Nothing is stored before the whole answer has reached the consumer: one that left before
    // then cancelled the run.
    await out.drained(ctx.signal);
    if (ctx.signal.aborted) throw abortReason(ctx.signal);
    const remembered = await remember(ctx, routed, prompted, answer);
    finish(ctx, { routed, context, prompted, answer, remembered });
    completed = true;
  } catch (error) {
    endFailed(ctx, error);
  } finally {
    unhookOuter?.();
    // Whatever is still running for this run (providers, the model request, queued tool calls)
    // stops now. After a run that completed, nothing listening means nothing to stop: aborting
    // would only dispatch an event, the costliest step of a warm run's end. A run that failed or
    // was left always aborts: a backend may follow the signal without a listener
    // (`AbortSignal.any`, polling), and queued tool calls look at it only when they start.
    if (!controller.signal.aborted && (!completed || hasAbortListeners(controller.signal))) abortOwned(controller, RUN_ENDED);
    deps.runs.delete(run);
    deps.reports.cancelled(run);
    ctx.trace.root.end();
    // The next run's signal, now that this one's last event is out.
    if (!deps.isClosed()) deps.controllers.refill();
  }
}

/** The response cache stage's outcome when the cache is off. */
const NOT_CACHED: { lookup?: undefined; answer?: undefined } = Object.freeze({});

/** Every provider pending, by name (the state a run starts from). */
function pendingProviders(deps: RunDeps): Record<string, { status: "pending" }> {
  const providers: Record<string, { status: "pending" }> = {};
  for (const p of deps.providers) setEntry(providers, p.name, { status: "pending" });
  return providers;
}

/**
 * The client's state with `zoe` set. Object.assign, not a spread followed by a field: that form is
 * a slow path in V8 (see docs/design.md); but a state with its own key `"__proto__"` (JSON.parse
 * makes one) is copied key by key, as Object.assign would set the copy's prototype from it.
 */
function withZoe(state: Record<string, unknown> | undefined, zoe: Record<string, unknown>): Record<string, unknown> {
  if (state === undefined || !Object.hasOwn(state, "__proto__")) return Object.assign({}, state, { zoe });
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(state)) setEntry(copy, key, state[key]);
  copy.zoe = zoe;
  return copy;
}

/**
 * End a run whose stages threw: cancelled (the run's signal aborted: its open messages closed,
 * `RUN_FINISHED` with outcome `cancelled`) or failed (`RUN_ERROR` with the error's code), its
 * stage span and trace ended the same way.
 */
function endFailed(ctx: RunContext, error: unknown): void {
  const { deps, turn, run, out } = ctx;
  const stageSpan = ctx.stageSpan;
  if (stageSpan) {
    // A cancelled run's stage did not fail, as the run did not: it was stopped.
    if (ctx.signal.aborted) stageSpan.set(CANCELLED);
    else stageSpan.fail(toZoeError(error).code, errorMessage(error));
    stageSpan.end();
    ctx.stageSpan = undefined;
  }
  if (ctx.signal.aborted) {
    ctx.trace.root.set(CANCELLED);
    for (const event of closeOpen(ctx)) out.send(event);
    deps.reports.cancelled(run);
    out.send(events.runFinished(turn.threadId, turn.runId, { cancelled: true }, { type: "cancelled" }));
  } else {
    const zoeError = toZoeError(error);
    ctx.trace.root.fail(zoeError.code, errorMessage(error));
    deps.reports.failed(run, zoeError);
    out.send(events.runError(zoeError.message, zoeError.code));
  }
}

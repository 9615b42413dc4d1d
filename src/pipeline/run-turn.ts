import type { AGUIEvent } from "@ag-ui/core";
import { toZoeError } from "../errors/zoe-error.js";
import { events } from "../events/factory.js";
import { closeOpen, createRunContext, finishStep, startStep, type ActiveRun, type RunContext, type RunDeps } from "./run-context.js";
import { HeldFailure, holdUntilRequested } from "./request-first.js";
import { answerFromCache, generate, startAnswerProbe } from "./stages/answer.js";
import { contextStage } from "./stages/context.js";
import { finish } from "./stages/finish.js";
import { acceptInput } from "./stages/input.js";
import { promptStage } from "./stages/prompt.js";
import { remember } from "./stages/remember.js";
import { routeStage } from "./stages/route.js";
import type { RunOptions } from "./types.js";
import { hasAbortListeners, onAbort } from "../shared/on-abort.js";

export type { ActiveRun, RunDeps } from "./run-context.js";

/** The abort reason of a run that ended: one shared object, as building a DOMException per run costs a stack trace. */
const RUN_ENDED = new DOMException("The run ended.", "AbortError");

/**
 * One chat turn as a stream of AG-UI events, stage by stage:
 * input → route → context → prompt → answer (response cache, or the model with its tools) →
 * remember → finish. Each stage lives in `stages/`, yields its own events and returns what the
 * next one needs. Never throws: bad input, failures and cancellation all end the stream with a
 * well-formed terminal event.
 */
export async function* runTurn(deps: RunDeps, rawInput: unknown, options: RunOptions): AsyncGenerator<AGUIEvent> {
  const t0 = performance.now();
  const accepted = acceptInput(deps, rawInput, options);
  if ("refused" in accepted) {
    yield* accepted.refused;
    return;
  }
  const { turn } = accepted;
  const who = { threadId: turn.threadId, runId: turn.runId, userId: turn.userId };

  // The run's own signal: the caller's signal, `close()`, and the run's end all abort it.
  const controller = new AbortController();
  const outer = options.signal;
  const unhookOuter = outer?.aborted
    ? (controller.abort(outer.reason), undefined)
    : outer && onAbort(outer, () => controller.abort(outer.reason));
  // `hostOpen` is true from `run:started` until a terminal host event: a run abandoned in between,
  // or interrupted by `close()`, reports `run:cancelled` exactly once.
  const run: ActiveRun = { controller, who, hostOpen: false };
  deps.runs.add(run);
  const endForHost = (emit: () => void) => {
    if (!run.hostOpen) return;
    run.hostOpen = false;
    emit();
  };
  const ctx = createRunContext(deps, turn, who, controller.signal, t0);
  ctx.trace = deps.tracing.run("invoke_agent zoe", {
    "gen_ai.operation.name": "invoke_agent",
    "gen_ai.agent.name": "zoe",
    "gen_ai.conversation.id": turn.threadId,
    "zoe.run_id": turn.runId,
  });

  const inner = stages(ctx, run, endForHost);
  let completed = false;
  try {
    // The events that can wait go out once the model request has (see request-first.ts); the
    // rest pass straight through. Done here rather than in a generator of its own: every event
    // crosses each generator layer, and a layer costs about 0.3 µs per event.
    const held = await holdUntilRequested(inner, () => ctx.modelRequested);
    yield* held.events;
    if (held.next) {
      const r = await held.next;
      if (!r.done) {
        yield r.value;
        yield* inner;
      }
    } else if (!held.done) yield* inner;
    completed = true;
  } catch (caught) {
    // A failure while the first events were held: they come first, then the stream's end.
    let error = caught;
    if (caught instanceof HeldFailure) {
      yield* caught.heldEvents;
      error = caught.error;
    }
    const code = ctx.signal.aborted ? "cancelled" : toZoeError(error).code;
    ctx.stageSpan?.fail(code, error instanceof Error ? error.message : String(error));
    ctx.stageSpan?.end();
    if (ctx.signal.aborted) ctx.trace.root.set({ "zoe.outcome": "cancelled" });
    else ctx.trace.root.fail(code, error instanceof Error ? error.message : String(error));
    if (ctx.signal.aborted) {
      yield* closeOpen(ctx);
      endForHost(() => deps.emitter.emit("run:cancelled", who));
      yield events.runFinished(turn.threadId, turn.runId, { cancelled: true }, { type: "cancelled" });
    } else {
      const zoeError = toZoeError(error);
      endForHost(() => deps.emitter.emit("run:error", { ...who, error: zoeError }));
      yield events.runError(zoeError.message, zoeError.code);
    }
  } finally {
    unhookOuter?.();
    // Whatever is still running for this run (providers, the model request, queued tool calls)
    // stops now. After a run that completed, nothing listening means nothing to stop: aborting
    // would only dispatch an event, the costliest step of a warm run's end. A run that failed or
    // was left always aborts: a backend may follow the signal without a listener
    // (`AbortSignal.any`, polling), and queued tool calls look at it only when they start.
    if (!controller.signal.aborted && (!completed || hasAbortListeners(controller.signal))) controller.abort(RUN_ENDED);
    // A consumer that left early closes the stages too (their `finally` blocks close the model
    // stream); after the abort, so that a step still waiting ends at once.
    await inner.return(undefined);
    deps.runs.delete(run);
    endForHost(() => deps.emitter.emit("run:cancelled", who));
    ctx.trace.root.end();
  }
}

/** The run's stages, top to bottom; `runTurn` turns what they throw into the stream's end. */
async function* stages(ctx: RunContext, run: ActiveRun, endForHost: (emit: () => void) => void): AsyncGenerator<AGUIEvent> {
  const { deps, turn, who } = ctx;
  yield events.runStarted(turn.threadId, turn.runId);
  run.hostOpen = true;
  deps.emitter.emit("run:started", who);
  // Object.assign, not a spread followed by a field: that form is a slow path in V8 (see docs/design.md).
  yield events.stateSnapshot(
    Object.assign({}, turn.state, {
      zoe: {
        runId: turn.runId,
        stage: "route",
        providers: Object.fromEntries(deps.providers.map((p) => [p.name, { status: "pending" }])),
      },
    }),
  );

  const routed = yield* routeStage(ctx);
  const probe = startAnswerProbe(ctx, routed); // the semantic cache's embedding runs alongside the context
  const context = yield* contextStage(ctx, routed);

  yield startStep(ctx, "generate");
  const prompted = yield* promptStage(ctx, routed, context);
  const cached = yield* answerFromCache(ctx, prompted, probe);
  const answer = cached.answer ?? (yield* generate(ctx, prompted, cached.lookup));
  yield* finishStep(ctx, "generate", "done");

  const remembered = await remember(ctx, routed, prompted, answer);
  yield* finish(ctx, { routed, context, prompted, answer, remembered }, endForHost);
}

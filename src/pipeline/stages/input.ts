import type { AGUIEvent } from "@ag-ui/core";
import { InputError } from "../../errors/input-error.js";
import { ZoeError } from "../../errors/zoe-error.js";
import { events } from "../../events/factory.js";
import { parseRunInput } from "../../input/parse-input.js";
import type { Turn } from "../../input/types.js";
import type { RunDeps } from "../run-context.js";
import type { RunOptions } from "../types.js";
import { abortError, abortReason } from "../../shared/abort.js";
import { onAbort } from "../../shared/on-abort.js";

/** The input stage's outcome: a turn to run (with the host's signal, read once), or the events of a run refused before any work. */
export type Accepted = { turn: Turn; signal: AbortSignal | undefined } | { refused: AGUIEvent[] };

/**
 * Parse and bound the input (ids, shape, text) and check the pipeline is open. A refusal is a
 * `RUN_ERROR` with a stable code (after a `RUN_STARTED` when the ids are known), and `run:error`.
 */
export function acceptInput(deps: RunDeps, rawInput: unknown, options: RunOptions): Accepted {
  // Each option is read once, here: a getter that throws (or answers differently the next time)
  // cannot break the stream later.
  let userId: string | undefined;
  let signal: AbortSignal | undefined;
  try {
    ({ userId, signal } = options);
  } catch {
    const error = new InputError("INVALID_INPUT", "The run's options could not be read (a getter threw).");
    deps.reports.refused(undefined, error);
    return { refused: [events.runError(error.message, error.code)] };
  }
  const parsed = parseRunInput(rawInput, { maxInputChars: deps.maxInputChars, userId, ...deps.inputLimits });
  if (!parsed.ok) {
    deps.reports.refused(parsed.ids, parsed.error);
    const refused = [events.runError(parsed.error.message, parsed.error.code)];
    if (parsed.ids) refused.unshift(events.runStarted(parsed.ids.threadId, parsed.ids.runId));
    return { refused };
  }
  const { turn } = parsed;
  const error = deps.isClosed()
    ? new ZoeError("PIPELINE_CLOSED", "The pipeline is closed: create a new one to run more turns.")
    : signalProblem(signal);
  return error ? refuse(deps, turn, error) : { turn, signal };
}

/** Refuse a parsed turn before any work: `RUN_STARTED`, then a `RUN_ERROR` with the error's code, and `run:error`. */
export function refuse(deps: RunDeps, turn: Turn, error: ZoeError): { refused: AGUIEvent[] } {
  deps.reports.refused({ threadId: turn.threadId, runId: turn.runId, userId: turn.userId }, error);
  return { refused: [events.runStarted(turn.threadId, turn.runId), events.runError(error.message, error.code)] };
}

const BAD_SIGNAL = "`options.signal` must be an AbortSignal.";

/**
 * Why `options.signal` cannot cancel a run, if it cannot: it must be an AbortSignal (duck-typed, so
 * that a signal from another realm works). A getter that throws is a bad signal too.
 */
function signalProblem(signal: unknown): InputError | undefined {
  if (signal === undefined) return undefined;
  try {
    const s = signal as AbortSignal;
    if (typeof s === "object" && s !== null && typeof s.aborted === "boolean" && typeof s.addEventListener === "function") {
      return undefined;
    }
  } catch {
    // Reading it threw: not a usable signal.
  }
  return new InputError("INVALID_INPUT", BAD_SIGNAL);
}

/** The reason the host's signal gives, or an `AbortError` when reading it throws (it runs in an abort hook, where a throw would reach the host's process). */
function hostReason(signal: AbortSignal): unknown {
  try {
    return abortReason(signal);
  } catch {
    return abortError();
  }
}

/**
 * Make the host's `options.signal` abort the run: at once when it already has, else when it does.
 * Returns the function that stops following it, or an `INVALID_INPUT` error when the signal cannot
 * be followed (a getter or `addEventListener` that throws on this read, after passing
 * {@link signalProblem}'s).
 */
export function followHostSignal(
  signal: AbortSignal | undefined,
  abort: (reason: unknown) => void,
): { unhook?: () => void } | { error: InputError } {
  if (signal === undefined) return {};
  try {
    if (signal.aborted) {
      abort(hostReason(signal));
      return {};
    }
    return { unhook: onAbort(signal, () => abort(hostReason(signal))) };
  } catch {
    return { error: new InputError("INVALID_INPUT", BAD_SIGNAL) };
  }
}

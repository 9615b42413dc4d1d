import type { RouteKind } from "../../routing/types.js";
import { attempt, TIMED_OUT, withDeadline } from "../../shared/deadline.js";
import type { SystemPromptFn } from "../types.js";

/** The system prompt of a run and where it came from. */
export interface SystemPromptOutcome {
  text: string;
  source: "static" | "cache" | "built" | "fallback";
  /** Why the default prompt was used, when it was. */
  fallback?: string;
}

/**
 * The system prompt: the static one, a cached build, or the host's function under its deadline.
 * A function that fails, hangs or returns something other than a string gives the default prompt
 * (and the outcome says why). Rejects only when the run is aborted.
 */
export async function resolveSystemPrompt(
  source: string | SystemPromptFn,
  cached: unknown,
  context: { kind: RouteKind; userId: string },
  defaultPrompt: string,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<SystemPromptOutcome> {
  if (typeof source === "string") return { text: source, source: "static" };
  if (typeof cached === "string") return { text: cached, source: "cache" };
  let fallback: string;
  try {
    const built = await withDeadline(
      attempt(() => source(context)),
      deadlineMs,
      signal,
    );
    if (typeof built === "string") return { text: built, source: "built" };
    fallback =
      built === TIMED_OUT
        ? `the system prompt function took longer than its ${deadlineMs} ms deadline`
        : "the system prompt function did not return a string";
  } catch (error) {
    if (signal.aborted) throw error;
    fallback = `the system prompt function failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  return { text: defaultPrompt, source: "fallback", fallback };
}

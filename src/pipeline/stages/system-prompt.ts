import type { RouteKind } from "../../routing/types.js";
import { attempt, TIMED_OUT, withDeadline } from "../../shared/deadline.js";
import type { SystemPromptFn } from "../types.js";
import { errorMessage } from "../../errors/error-message.js";

/**
 * Why a fallback decided, in a word: the part's deadline passed, it gave something unusable, or it
 * failed. What span attributes carry: the reason itself may quote the failing part's own message,
 * and through it what the part was given (the user's text).
 */
export type FallbackKind = "timeout" | "invalid" | "error";

/** The system prompt of a run and where it came from. */
export interface SystemPromptOutcome {
  text: string;
  source: "static" | "cache" | "built" | "fallback";
  /** Why the default prompt was used, when it was. */
  fallback?: string;
  /** Why, as a span attribute may say it (never the function's own message). */
  fallbackKind?: FallbackKind;
}

/** The system prompt when it needs no wait: the static one or a cached build; undefined when the host's function must build it. */
export function readySystemPrompt(source: string | SystemPromptFn, cached: unknown): SystemPromptOutcome | undefined {
  if (typeof source === "string") return { text: source, source: "static" };
  if (typeof cached === "string") return { text: cached, source: "cache" };
  return undefined;
}

/**
 * Build the system prompt with the host's function, under its deadline (when
 * {@link readySystemPrompt} has none). A function that fails, hangs or returns something other
 * than a string gives the default prompt (and the outcome says why). Rejects only when the run is
 * aborted.
 */
export async function buildSystemPrompt(
  build: SystemPromptFn,
  context: { kind: RouteKind; userId: string },
  defaultPrompt: string,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<SystemPromptOutcome> {
  let fallback: string;
  let fallbackKind: FallbackKind;
  try {
    const built = await withDeadline(
      attempt(() => build(context)),
      deadlineMs,
      signal,
    );
    if (typeof built === "string") return { text: built, source: "built" };
    fallbackKind = built === TIMED_OUT ? "timeout" : "invalid";
    fallback =
      built === TIMED_OUT
        ? `the system prompt function took longer than its ${deadlineMs} ms deadline`
        : "the system prompt function did not return a string";
  } catch (error) {
    if (signal.aborted) throw error;
    fallbackKind = "error";
    fallback = `the system prompt function failed: ${errorMessage(error)}`;
  }
  return { text: defaultPrompt, source: "fallback", fallback, fallbackKind };
}

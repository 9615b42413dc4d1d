import { INPUT_LIMITS, shapeProblem } from "../input/limits.js";
/** Parse a tool call's JSON arguments; an empty text is `{}`. Throws unless they are a JSON object. */
export function parseToolArguments(text: string): Record<string, unknown> {
  if (!text.trim()) return {};
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("tool arguments must be a JSON object");
  return value as Record<string, unknown>;
}

/**
 * The arguments as an object for replaying a call to the model; anything unparsable becomes `{}`,
 * and so do arguments nested deeper than a run's input may be (`INPUT_LIMITS.maxDepth`): a
 * backend's `JSON.stringify` of the next request would overflow the stack on them.
 */
export function toolArgumentsOrEmpty(text: string): Record<string, unknown> {
  try {
    const args = parseToolArguments(text);
    return shapeProblem(args, INPUT_LIMITS.maxDepth, Number.POSITIVE_INFINITY) === "deep" ? {} : args;
  } catch {
    return {};
  }
}

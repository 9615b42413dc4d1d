/** Parse a tool call's JSON arguments; an empty text is `{}`. Throws unless they are a JSON object. */
export function parseToolArguments(text: string): Record<string, unknown> {
  if (!text.trim()) return {};
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("tool arguments must be a JSON object");
  return value as Record<string, unknown>;
}

/** The arguments as an object for replaying a call to the model; anything unparsable becomes `{}`. */
export function toolArgumentsOrEmpty(text: string): Record<string, unknown> {
  try {
    return parseToolArguments(text);
  } catch {
    return {};
  }
}

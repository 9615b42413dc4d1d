import type { ToolSpec } from "./types.js";

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A tool name as model servers and engines take it: 1 to 128 characters, no whitespace or control
 * characters (node-llama-cpp refuses them; OpenAI's API allows letters, digits, `_` and `-`). A
 * tool is sent with every request, so one bad name would break every run.
 */
const TOOL_NAME = /^[^\s\p{Cc}]{1,128}$/u;

/** Whether `name` is a tool name models can be given ({@link TOOL_NAME}). */
export const isToolName = (name: unknown): name is string => typeof name === "string" && TOOL_NAME.test(name);

/** What a tool name must be, for error messages. */
export const TOOL_NAME_RULE = "a tool name is 1 to 128 characters without spaces or control characters";

/**
 * A tool definition a model can be given: an object with a {@link isToolName} `name` and, when
 * they are present, a string `description` and an object `parameters` (its JSON Schema).
 */
export function isToolSpec(value: unknown): value is ToolSpec {
  return (
    isObject(value) &&
    isToolName(value.name) &&
    (value.description === undefined || typeof value.description === "string") &&
    (value.parameters === undefined || isObject(value.parameters))
  );
}

/**
 * A tool catalogue's value: an array of {@link isToolSpec} definitions. False, never a throw, for
 * a value that throws when looked at (a revoked Proxy, a throwing getter: a custom store's or a
 * provider's).
 */
export function isToolCatalogue(value: unknown): value is ToolSpec[] {
  try {
    return Array.isArray(value) && value.every(isToolSpec);
  } catch {
    return false;
  }
}

import type { ToolSpec } from "./types.js";

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A tool definition a model can be given: an object with a non-empty string `name` and, when they
 * are present, a string `description` and an object `parameters` (its JSON Schema).
 */
export function isToolSpec(value: unknown): value is ToolSpec {
  return (
    isObject(value) &&
    typeof value.name === "string" &&
    value.name.length > 0 &&
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

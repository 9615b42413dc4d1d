const OBJECT_PROTO = Object.prototype;

/** Past this depth a value is copied with an explicit list of work, not recursion: a read must not overflow a deep caller's stack. */
const RECURSE_DEPTH = 200;

/** Objects with more keys than this are copied key by key: V8 keeps them in dictionary mode, where a spread is slow. */
const WIDE = 128;

type Copy = Record<string, unknown> | unknown[];

/**
 * A fresh copy of a value that `JSON.parse` produced: plain objects, arrays and primitives only.
 * Strings are shared (they are immutable); every object and array is new, so a caller may change
 * the copy without touching the original. Two to five times faster than parsing the JSON again
 * for the objects and arrays a run reads.
 *
 * Like `JSON.parse`, it makes own data properties, whatever `Object.prototype` or
 * `Array.prototype` hold (a `__proto__` key, a frozen prototype, a setter someone added): each
 * level is first copied whole (`slice()`, a spread), then only its nested values are replaced.
 */
export function copyJson(value: unknown, depth = 0): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (depth > RECURSE_DEPTH) return copyDeep(value);
  const out = shallow(value);
  if (Array.isArray(out)) {
    for (let i = 0; i < out.length; i++) {
      const item = out[i];
      if (typeof item === "object" && item !== null) out[i] = copyJson(item, depth + 1);
    }
  } else {
    for (const key in out) {
      const item = out[key];
      if (typeof item === "object" && item !== null && Object.hasOwn(out, key)) out[key] = copyJson(item, depth + 1);
    }
  }
  return out;
}

/** One level of a value: its own enumerable properties as own data properties of a new object or array. */
function shallow(value: object): Copy {
  if (Array.isArray(value)) return value.slice();
  const source = value as Record<string, unknown>;
  let keys = 0;
  for (const _ in source) if (++keys > WIDE) break;
  if (keys <= WIDE) return { ...source };
  const out: Record<string, unknown> = {};
  for (const key in source) {
    if (!Object.hasOwn(source, key)) continue;
    if (key in OBJECT_PROTO) Object.defineProperty(out, key, { value: source[key], enumerable: true, writable: true, configurable: true });
    else out[key] = source[key];
  }
  return out;
}

/** A level still to fill, in a linked list (no array: its `push` would go through `Array.prototype`). */
type Work = { target: Copy; next: Work | undefined };

/** {@link copyJson} of a deep value: each level copied whole, then its nested values replaced, without recursion. */
function copyDeep(root: object): unknown {
  const top = shallow(root);
  let work: Work | undefined = { target: top, next: undefined };
  while (work) {
    const { target } = work;
    work = work.next;
    if (Array.isArray(target)) {
      for (let i = 0; i < target.length; i++) {
        const item = target[i];
        if (typeof item !== "object" || item === null) continue;
        const copy = shallow(item);
        target[i] = copy;
        work = { target: copy, next: work };
      }
    } else {
      for (const key in target) {
        const item = target[key];
        if (typeof item !== "object" || item === null || !Object.hasOwn(target, key)) continue;
        const copy = shallow(item);
        target[key] = copy;
        work = { target: copy, next: work };
      }
    }
  }
  return top;
}

/** Arrays up to this long are sorted by insertion: `Array.prototype.sort` copies its elements into a work array on every call (about 0.8 KB for three). */
const INSERTION_MAX = 16;

/**
 * `items` in `order` (stable: equal items keep their order): the array itself when it already is
 * (most prompts: a few sections that come sorted), else a sorted copy.
 */
export function sortedBy<T>(items: readonly T[], order: (a: T, b: T) => number): readonly T[] {
  for (let i = 1; i < items.length; i++) {
    if (order(items[i - 1] as T, items[i] as T) > 0)
      return items.length <= INSERTION_MAX ? insertionSorted(items, order) : [...items].sort(order);
  }
  return items;
}

/** A sorted copy of a short array, without the work array of `Array.prototype.sort`. */
function insertionSorted<T>(items: readonly T[], order: (a: T, b: T) => number): T[] {
  const out = items.slice();
  for (let i = 1; i < out.length; i++) {
    const item = out[i] as T;
    let j = i - 1;
    // Only strictly greater items move: equal ones keep their order.
    for (; j >= 0 && order(out[j] as T, item) > 0; j--) out[j + 1] = out[j] as T;
    out[j + 1] = item;
  }
  return out;
}

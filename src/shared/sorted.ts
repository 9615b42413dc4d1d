/**
 * `items` in `order`: the array itself when it already is (most prompts: a few sections that come
 * sorted), else a sorted copy. `Array.prototype.sort` copies its elements into a work array on
 * every call, however short the array.
 */
export function sortedBy<T>(items: readonly T[], order: (a: T, b: T) => number): readonly T[] {
  for (let i = 1; i < items.length; i++) {
    if (order(items[i - 1] as T, items[i] as T) > 0) return [...items].sort(order);
  }
  return items;
}

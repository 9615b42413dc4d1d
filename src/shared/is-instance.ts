/**
 * `value instanceof type`, but false where the test itself throws: a revoked Proxy, or one whose
 * `getPrototypeOf` trap throws. Used where a failure is being sorted out: classifying it must not
 * fail in turn.
 */
export function isInstance<T>(value: unknown, type: abstract new (...args: never[]) => T): value is T {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

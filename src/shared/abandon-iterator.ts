/**
 * Close an iterator left before its end, in the background: its outcome, even a synchronous throw
 * from `return()`, is not the business of whoever left.
 */
export function abandonIterator(iterator: AsyncIterator<unknown>): void {
  try {
    void Promise.resolve(iterator.return?.()).catch(() => {});
  } catch {
    // a synchronous throw: the iterator is being abandoned anyway
  }
}

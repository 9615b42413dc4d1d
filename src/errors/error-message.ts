/**
 * The text of anything thrown or rejected: an `Error`'s `message`, else the value as a string.
 * Never throws: a value that cannot be turned into text (an object without a prototype, a
 * `toString` or `message` getter that throws) is named by its type instead. A failure being
 * reported must never become a failure of its own: in a rejection handler, a throw would leave
 * the work unrecorded (a run waiting on it forever) and the rejection unhandled.
 */
export function errorMessage(error: unknown): string {
  try {
    return error instanceof Error ? String(error.message) : String(error);
  } catch {
    return `a thrown ${error === null ? "null" : typeof error} that cannot be shown as text`;
  }
}

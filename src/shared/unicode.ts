// String.prototype.isWellFormed / toWellFormed exist from Node 20 (V8 11.3); TypeScript lists them
// only from lib es2024, which would also admit APIs Node 20 lacks, so they are typed here.
type WellFormedString = string & { isWellFormed(): boolean; toWellFormed(): string };

/** True when `text` holds no lone UTF-16 surrogate. */
export const isWellFormed = (text: string): boolean => (text as WellFormedString).isWellFormed();

/** `text` with each lone surrogate replaced by U+FFFD. */
export const toWellFormed = (text: string): string => (text as WellFormedString).toWellFormed();

/** The first `max` UTF-16 units of `text`, one fewer when the cut would split a surrogate pair. */
export function sliceWhole(text: string, max: number): string {
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

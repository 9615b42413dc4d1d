/**
 * Features of a user turn for the learned router: hashed character n-grams and words of the
 * normalised text. The training script (scripts/train-router.ts) and the runtime classifier
 * both call {@link textFeatures}, so a trained model sees exactly the features it was trained on.
 *
 * Hashing ("the hashing trick") keeps the model a fixed-size table: no vocabulary to ship, and
 * unseen words, typos and other languages still land on n-grams the model knows
 * ("swich" shares "wic", "ich" with "switch"; "allume" shares "llum" with "allumer").
 */

/** Settings that a trained model was built with; stored next to its weights. */
export interface FeatureConfig {
  /** log2 of the number of hash buckets for text features. */
  bits: number;
  /** Shortest and longest character n-gram. */
  minN: number;
  maxN: number;
  /** Emit word unigrams and bigrams as well. */
  words: boolean;
}

/** Only this many characters of a turn are read: a huge paste cannot make routing slow. */
export const MAX_FEATURE_CHARS = 1000;

const NON_ASCII = /[^\x00-\x7f]/;
const DIACRITICS = /[\u0300-\u036f]/g;
/** Invisible format characters (direction marks, zero-width spaces, soft hyphens). */
const FORMAT = /\p{Cf}/gu;
const APOSTROPHES = /[\u2018\u2019\u02bc`´]/g;
const DIGITS = /\d+/g;
const BLANKS = /[ \t\f\v\r\u00a0]+/g;
const NEWLINES = /\s*\n\s*/g;

/**
 * Lower-case, strip accents, fold compatibility forms (full-width letters, ligatures) to plain
 * ones, drop invisible format characters, fold every number to `0`, collapse blanks (newlines are
 * kept: a multi-line turn is a signal of its own), cut to {@link MAX_FEATURE_CHARS}.
 */
export function normaliseForFeatures(text: string): string {
  let t = text.length > MAX_FEATURE_CHARS ? text.slice(0, MAX_FEATURE_CHARS) : text;
  t = t.toLowerCase();
  if (NON_ASCII.test(t)) t = t.normalize("NFKD").replace(DIACRITICS, "").replace(FORMAT, "").replace(APOSTROPHES, "'");
  return t.replace(DIGITS, "0").replace(BLANKS, " ").replace(NEWLINES, "\n").trim();
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Final avalanche so that the low bits (the bucket) depend on every input bit. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h;
}

/** A word character: ASCII letters and digits, `_`, and anything beyond ASCII (letters of other scripts). */
function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c > 127;
}

const WORD_SEED = 0x9e3779b9;
const BIGRAM_SEED = 0x85ebca6b;
const FIRST_SEED = 0xc2b2ae35;

/**
 * Writes the bucket of every feature of `norm` (the output of {@link normaliseForFeatures}) into
 * `out`, and returns how many were written (at most `out.length`). A feature may repeat: its
 * count is its weight. Buckets are in `[0, 2 ** config.bits)`.
 */
export function textFeatures(norm: string, config: FeatureConfig, out: Int32Array): number {
  const mask = (1 << config.bits) - 1;
  const { minN, maxN } = config;
  const cap = out.length;
  let n = 0;
  // Character n-grams over " text ", so that word starts and ends are n-grams of their own.
  const len = norm.length + 2;
  for (let i = 0; i < len && n < cap; i++) {
    let h = FNV_OFFSET;
    for (let k = 0; k < maxN && i + k < len; k++) {
      const p = i + k;
      const c = p === 0 || p === len - 1 ? 32 : norm.charCodeAt(p - 1);
      h = Math.imul(h ^ c, FNV_PRIME);
      if (k + 1 >= minN && n < cap) out[n++] = mix(h ^ (k + 1)) & mask;
    }
  }
  if (!config.words) return n;
  // Words, word bigrams, and the first word (the verb of a command: "set", "plan", "write").
  let prev = 0;
  let index = 0;
  let i = 0;
  const end = norm.length;
  while (i < end && n < cap) {
    while (i < end && !isWordChar(norm.charCodeAt(i))) i++;
    if (i >= end) break;
    let h = WORD_SEED;
    while (i < end && isWordChar(norm.charCodeAt(i))) {
      h = Math.imul(h ^ norm.charCodeAt(i), FNV_PRIME);
      i++;
    }
    out[n++] = mix(h) & mask;
    if (index > 0 && n < cap) out[n++] = mix(Math.imul(prev, 31) ^ h ^ BIGRAM_SEED) & mask;
    if (index === 0 && n < cap) out[n++] = mix(h ^ FIRST_SEED) & mask;
    prev = h;
    index++;
  }
  return n;
}

/** Number of words in a normalised text (the same word split as {@link textFeatures}). */
export function countWords(norm: string): number {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < norm.length; i++) {
    const w = isWordChar(norm.charCodeAt(i));
    if (w && !inWord) words++;
    inWord = w;
  }
  return words;
}

/** Length of a turn in words, in buckets: 1, 2, 3–4, 5–8, 9–16, 17–32, 33–64, more. */
export function lengthBucket(words: number): number {
  if (words <= 2) return Math.max(0, words - 1);
  return Math.min(7, Math.ceil(Math.log2(words)));
}

/** Bucket of a named extra feature (rule decision, length, shape) in a table of `2 ** bits` buckets. */
export function extraFeature(name: string, bits: number): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), FNV_PRIME);
  return mix(h) & ((1 << bits) - 1);
}

import { isWellFormed } from "../shared/unicode.js";

/** A segment the encoding below leaves unchanged (most ids): returned as is, without encoding it. */
const PLAIN = /^[A-Za-z0-9_-]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Encode one key segment so that no user-supplied text can forge a separator or a hash tag.
 * Never throws: a lone UTF-16 surrogate (which `encodeURIComponent` rejects) is written as
 * `%uXXXX`, a form percent-encoding never produces, so the encoding stays one-to-one.
 */
function segment(text: string): string {
  if (PLAIN.test(text)) return text;
  if (isWellFormed(text)) return encodeWellFormed(text);
  let out = "";
  let last = 0;
  for (const match of text.matchAll(LONE_SURROGATE)) {
    out += `${encodeWellFormed(text.slice(last, match.index))}%u${text.charCodeAt(match.index).toString(16).toUpperCase()}`;
    last = match.index + 1;
  }
  return out + encodeWellFormed(text.slice(last));
}

/** The characters `encodeURIComponent` leaves as they are that a key segment encodes too. */
const KEPT_BY_URI_ENCODING = /[!'()*~.]/;
const KEPT_BY_URI_ENCODING_ALL = /[!'()*~.]/g;

/** Percent-encoding; the replacement (a call per match) runs only when one of those is there. */
const encodeWellFormed = (text: string): string => {
  const encoded = encodeURIComponent(text);
  return KEPT_BY_URI_ENCODING.test(encoded)
    ? encoded.replace(KEPT_BY_URI_ENCODING_ALL, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    : encoded;
};

/** Builds namespaced cache keys: `prefix:v<version>:<part>:{<user>}:<id>`. */
export interface KeyBuilder {
  /** A key of `part` for `userId`; `ids` tell entries of one part apart. */
  key(part: string, userId: string, ...ids: string[]): string;
}

/**
 * Create a key builder. The user segment sits in `{...}` so that Redis Cluster puts one
 * user's keys in one slot; every user-supplied segment is percent-encoded, so crafted ids
 * (with `:`, `{`, `}`, `*`, spaces or unicode) cannot make two users' keys equal.
 */
export function createKeyBuilder(prefix = "zoe", version = 1): KeyBuilder {
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) {
    throw new TypeError(`Cache key prefix must match /^[A-Za-z0-9_.-]+$/, got ${JSON.stringify(prefix)}.`);
  }
  const head = `${prefix}:v${version}:`;
  // A run builds all its keys for one user: the last user's segment is kept, not encoded again.
  let lastUser = "";
  let lastUserSegment = "";
  return {
    key: (part, userId, ...ids) => {
      if (userId !== lastUser) {
        lastUserSegment = segment(userId);
        lastUser = userId;
      }
      let key = `${head}${segment(part)}:{${lastUserSegment}}`;
      for (const id of ids) key += `:${segment(id)}`;
      return key;
    },
  };
}

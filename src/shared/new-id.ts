import { randomUUID } from "node:crypto";

/**
 * A random UUID (v4) as one flat string. Node builds `randomUUID()` by joining two-character
 * pieces, and V8 keeps the result as a tree of about twenty strings (480 bytes) until something
 * reads it character by character; a run keeps its ids to its end, so 512 runs in flight held
 * about 0.7 MB of such trees. Reading one character flattens the string in place (58 bytes); the
 * pieces die young. Costs about 0.13 µs per id.
 */
export function newId(): string {
  const id = randomUUID();
  // The comparison keeps the read from being optimised away; it is never true for a UUID.
  return id.charCodeAt(0) === 0 ? `${id}` : id;
}

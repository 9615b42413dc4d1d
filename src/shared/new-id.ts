import { randomFillSync } from "node:crypto";

/** Random bytes for this many ids are drawn at a time (Node's `randomUUID()` also draws ahead). */
const IDS_PER_DRAW = 128;
const random = Buffer.alloc(16 * IDS_PER_DRAW);
let used = random.length;
const text = Buffer.alloc(36);
const HEX = Buffer.from("0123456789abcdef", "latin1");

/**
 * A random UUID (version 4, from the platform's CSPRNG) as one flat string. Node builds
 * `randomUUID()` by joining two-character pieces: V8 keeps the result as a tree of about twenty
 * strings (480 bytes, 640 allocated) until something reads it character by character, and a run
 * keeps its ids to its end. Written into a buffer and read out once, an id is one 56-byte string,
 * made in about 0.12 µs (`randomUUID()` 0.08 µs, flattening it 0.13 µs more).
 */
export function newId(): string {
  if (used === random.length) {
    randomFillSync(random);
    used = 0;
  }
  let at = 0;
  for (let i = 0; i < 16; i++) {
    let byte = random[used + i] as number;
    // The version (4) and the variant (binary 10), then a "-" before bytes 4, 6, 8 and 10.
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d;
    text[at++] = HEX[byte >> 4] as number;
    text[at++] = HEX[byte & 0x0f] as number;
  }
  used += 16;
  return text.toString("latin1", 0, 36);
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clusterSlot } from "../../src/redis/index.js";

// No server needed: the slot is checked against CLUSTER KEYSLOT in cluster.test.ts. Here it is
// checked against a bit-by-bit CRC16/XMODEM of the UTF-8 bytes and Redis's keyHashSlot rule
// (cluster.c), on any string, hash tags and lone surrogates included.
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function referenceSlot(key: string): number {
  let hashed = key;
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  return crc16(new TextEncoder().encode(hashed)) & 16383;
}

describe("clusterSlot", () => {
  it("gives the slots Redis documents", () => {
    expect(crc16(new TextEncoder().encode("123456789"))).toBe(0x31c3); // the XMODEM check value
    expect(clusterSlot("123456789")).toBe(0x31c3 & 16383);
    expect(clusterSlot("foo")).toBe(12182);
    expect(clusterSlot("{user1000}.following")).toBe(clusterSlot("{user1000}.followers"));
    expect(clusterSlot("foo{bar}zap")).toBe(clusterSlot("bar"));
    expect(clusterSlot("foo{{bar}}zap")).toBe(clusterSlot("{bar"));
    // An empty first tag means no tag, even with a later `}` (cluster-key-slot 1.1.2 hashes "{bar" here).
    expect(clusterSlot("foo{}{bar}")).toBe(crc16(new TextEncoder().encode("foo{}{bar}")) & 16383);
    expect(clusterSlot("foo{}{bar}")).not.toBe(clusterSlot("{bar"));
  });

  it("matches CRC16/XMODEM of the UTF-8 bytes, with Redis's hash tag rule, on any string", () => {
    const piece = fc.oneof(
      fc.constantFrom("{", "}", "{}", ":", "\ud800", "\udfff"),
      fc.string({ unit: "binary", maxLength: 8 }),
      fc.string({ unit: "binary-ascii", maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
        const key = pieces.join("");
        const slot = clusterSlot(key);
        expect(slot).toBe(referenceSlot(key));
        expect(slot).toBeGreaterThanOrEqual(0);
        expect(slot).toBeLessThan(16384);
      }),
      { numRuns: 2_000 },
    );
  });
});

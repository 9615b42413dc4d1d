const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  return crc;
}

const encoder = new TextEncoder();

/**
 * The Redis Cluster hash slot of a key (CRC16/XMODEM of its UTF-8 bytes, mod 16384). When the
 * key holds a non-empty `{...}`, only the text inside the FIRST `{` and the next `}` is hashed,
 * exactly as Redis does, so keys sharing a hash tag share a slot.
 *
 * Written here rather than taken from `cluster-key-slot`: that package (archived, unmaintained)
 * keeps scanning after an empty `{}` and hashes up to a later `}` (`"a{}{b}"` gets the slot of
 * `"{b"`, Redis hashes the whole key), and encodes a lone UTF-16 surrogate as 3 bytes where the
 * wire (and `TextEncoder`) sends U+FFFD. ioredis and node-redis replaced it with their own copy
 * for the first reason. This function is checked against `CLUSTER KEYSLOT` in the tests.
 */
export function clusterSlot(key: string): number {
  let hashed = key;
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  return crc16(encoder.encode(hashed)) & 16383;
}

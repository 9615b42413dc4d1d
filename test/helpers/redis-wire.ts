/** Counting Redis round trips on the wire (shared by the tests and the benchmarks). */
import type { Redis } from "ioredis";

/** The command names in one socket write of RESP arrays (`*N $len arg ...`). */
export function commandNames(payload: Buffer): string[] {
  const names: string[] = [];
  let i = 0;
  const line = (): string => {
    const end = payload.indexOf("\r\n", i);
    if (end === -1) throw new Error("Truncated RESP payload.");
    const text = payload.toString("latin1", i, end);
    i = end + 2;
    return text;
  };
  while (i < payload.length) {
    const count = Number(line().slice(1));
    for (let a = 0; a < count; a++) {
      const length = Number(line().slice(1));
      if (a === 0) names.push(payload.toString("utf8", i, i + length).toUpperCase());
      i += length + 2;
    }
  }
  return names;
}

/**
 * Record every write on the sockets of `connections` (a single client, or a Cluster's nodes):
 * each write is one batch of commands sent together, i.e. one round trip.
 */
export function recordWrites(connections: Redis[]): { writes: Array<{ node: number; commands: string[] }>; stop(): void } {
  const writes: Array<{ node: number; commands: string[] }> = [];
  const restores: Array<() => void> = [];
  connections.forEach((connection, node) => {
    const stream = (connection as unknown as { stream: { write: (chunk: unknown, ...rest: unknown[]) => boolean } }).stream;
    const original = stream.write;
    stream.write = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
      const payload = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
      writes.push({ node, commands: commandNames(payload) });
      return original.call(this, chunk, ...rest);
    };
    restores.push(() => {
      stream.write = original;
    });
  });
  return { writes, stop: () => restores.forEach((r) => r()) };
}

/** Scenarios shared by the single-server and Cluster tests of the Redis store. */
import type { Redis } from "ioredis";
import { expect } from "vitest";
import { createZoePipeline, type AGUIEvent, type CacheStore, type ContextProvider } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

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

/** User ids made to collide if keys were built naively. */
export const CRAFTED_USERS = [
  "a:b", "a", "b", "a%3Ab", "a{b}", "{a}", "{a}b", "a}{b", "{}", "{", "}", "a*b", "*", "a?b", "a b", " a", "a ",
  "\u00e9", "e\u0301", "\u{1F600}", "\u65e5\u672c", "x:v1:history:{y}", "a:b:c", "a\nb",
];

const marker = (userId: string) => `<<${JSON.stringify(userId)}>>`;

/**
 * Two turns for each crafted user through one pipeline on `store`: the second must be served
 * from the cache (context `cached`, no new fetch) and its prompt must hold that user's system
 * prompt, context and history only. Closes the pipeline (and so the store).
 */
export async function expectIsolatedUsers(store: CacheStore, keyPrefix: string): Promise<void> {
  let fetches = 0;
  const profile: ContextProvider = {
    name: "profile",
    placement: "stable",
    ttlMs: 60_000,
    fetch: ({ userId }) => {
      fetches++;
      return `PROFILE ${marker(userId)}`;
    },
  };
  const backend = scriptedBackend({ script: textChunks("noted") });
  const pipeline = createZoePipeline({
    backend,
    router: fixedRouter("chat"),
    cache: store,
    providers: [profile],
    keyPrefix,
    systemPrompt: ({ userId }) => `SYSTEM ${marker(userId)}`,
  });
  const statusOf = (events: AGUIEvent[]) => {
    const ops = events.flatMap((e) => (e.type === "STATE_DELTA" ? (e.delta as Array<{ path: string; value?: { status?: string } }>) : []));
    return ops.find((op) => op.path === "/zoe/providers/profile")?.value?.status;
  };

  for (const userId of CRAFTED_USERS) {
    const events = await runValid(pipeline.run({ userId, message: `first from ${marker(userId)}` }));
    expect(events.at(-1)?.type).toBe("RUN_FINISHED");
    expect(statusOf(events)).toBe("ok");
  }
  expect(fetches).toBe(CRAFTED_USERS.length);

  for (const userId of CRAFTED_USERS) {
    const before = backend.requests.length;
    const events = await runValid(pipeline.run({ userId, message: `second from ${marker(userId)}` }));
    expect(events.at(-1)?.type).toBe("RUN_FINISHED");
    expect(statusOf(events), `user ${JSON.stringify(userId)}`).toBe("cached");
    const prompt = JSON.stringify(backend.requests[before]?.messages);
    // The markers appear JSON-escaped inside the serialised prompt.
    const seen = (u: string) => prompt.includes(JSON.stringify(marker(u)).slice(1, -1));
    expect(seen(userId), `own context of ${JSON.stringify(userId)}`).toBe(true);
    for (const other of CRAFTED_USERS) {
      if (other !== userId) expect(seen(other), `${JSON.stringify(other)} leaked into ${JSON.stringify(userId)}`).toBe(false);
    }
    const history = await pipeline.history.get(userId, "default");
    expect(history.map((h) => h.content)).toEqual([
      `first from ${marker(userId)}`,
      "noted",
      `second from ${marker(userId)}`,
      "noted",
    ]);
  }
  expect(fetches).toBe(CRAFTED_USERS.length);
  await pipeline.close();
}

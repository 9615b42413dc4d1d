/** Scenarios shared by the single-server and Cluster tests of the Redis store. */
import { expect } from "vitest";
import { createZoePipeline, type AGUIEvent, type CacheStore, type ContextProvider } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/** User ids made to collide if keys were built naively. */
export const CRAFTED_USERS = [
  "a:b",
  "a",
  "b",
  "a%3Ab",
  "a{b}",
  "{a}",
  "{a}b",
  "a}{b",
  "{}",
  "{",
  "}",
  "a*b",
  "*",
  "a?b",
  "a b",
  " a",
  "a ",
  "\u00e9",
  "e\u0301",
  "\u{1F600}",
  "\u65e5\u672c",
  "x:v1:history:{y}",
  "a:b:c",
  "a\nb",
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
    expect(history.map((h) => h.content)).toEqual([`first from ${marker(userId)}`, "noted", `second from ${marker(userId)}`, "noted"]);
  }
  expect(fetches).toBe(CRAFTED_USERS.length);
  await pipeline.close();
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createKeyBuilder, createZoePipeline } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const crafted = ["alice", "alice:x", "alice}", "{alice}", "ali*ce", "alice ", " alice", "álice", "alice\u0000", "a:b", "a", "b", "a%3Ab"];

describe("cache keys", () => {
  const keys = createKeyBuilder("zoe", 1);

  it("never gives two (user, id) pairs the same key, however crafted", () => {
    const seen = new Map<string, string>();
    for (const user of crafted) {
      for (const id of ["", ":", "x", "x:y", "{x}", "*"]) {
        const key = keys.key("context", user, id);
        expect(seen.get(key), `collision for ${JSON.stringify([user, id])}`).toBeUndefined();
        seen.set(key, JSON.stringify([user, id]));
      }
    }
    // (user "a", ids "b","c") vs (user "a:b", id "c")
    expect(keys.key("p", "a", "b", "c")).not.toBe(keys.key("p", "a:b", "c"));
  });

  it("keeps the keys it has always built: each segment percent-encoded, !'()*~. included", () => {
    // The definition the keys were first built with (well-formed text): a key that changed would
    // miss every value a running Redis holds.
    const reference = (text: string) =>
      /^[A-Za-z0-9_-]*$/.test(text)
        ? text
        : encodeURIComponent(text).replace(/[!'()*~.]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const text = fc.string({
      unit: fc.constantFrom("a", "Z", "0", " ", ".", "!", "'", "(", ")", "*", "~", ":", "{", "}", "%", "é", "😀", "-", "_"),
    });
    fc.assert(
      fc.property(text, text, (user, id) => {
        expect(keys.key("route", user, id)).toBe(`zoe:v1:route:{${reference(user)}}:${reference(id)}`);
      }),
      { numRuns: 2_000 },
    );
    expect(keys.key("route", "u", "why is the sky blue")).toBe("zoe:v1:route:{u}:why%20is%20the%20sky%20blue");
  });

  it("puts the whole user id in one Redis Cluster hash tag with no braces inside", () => {
    for (const user of crafted) {
      const key = keys.key("context", user, "x");
      const tag = key.slice(key.indexOf("{") + 1, key.indexOf("}"));
      expect(tag).not.toMatch(/[{}:]/);
      expect(decodeURIComponent(tag)).toBe(user);
    }
  });

  it("keys of users built in turns each carry their own user", () => {
    const keys = createKeyBuilder();
    const users = ["alice", "bob:{x}", "alice", "", "bob:{x}", "日本"];
    const built = users.map((u) => keys.key("history", u, "t 1"));
    expect(built).toEqual(users.map((u) => createKeyBuilder().key("history", u, "t 1")));
    expect(new Set(built).size).toBe(4);
    expect(built[0]).toBe("zoe:v1:history:{alice}:t%201");
  });

  it("rejects a prefix that could forge a namespace", () => {
    expect(() => createKeyBuilder("zoe:v2")).toThrow(TypeError);
    expect(() => createKeyBuilder("{x}")).toThrow(TypeError);
  });

  it("never serves one user's cached context to another", async () => {
    let calls = 0;
    const provider = { name: "profile", fetch: (req: { userId: string }) => `profile of ${req.userId} #${++calls}` };
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers: [provider] });
    for (const user of crafted) await runValid(pipeline.run({ userId: user, message: "who am I?" }));
    for (const user of crafted) await runValid(pipeline.run({ userId: user, message: "who am I?" }));
    expect(calls).toBe(crafted.length);
    backend.requests.forEach((request, i) => {
      const user = crafted[i % crafted.length]!;
      expect(request.messages.at(-1)?.content).toContain(`profile of ${user} #`);
    });
  });
});

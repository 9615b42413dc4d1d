import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createKeyBuilder } from "../../src/cache/keys.js";
import { createZoePipeline, memoryCacheStore } from "../../src/index.js";
import { normaliseText, routeCacheKey } from "../../src/pipeline/stages/route.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { fixedRouter } from "../helpers/fixtures.js";

/**
 * The definition: what the route key of a turn is made of. Lower case; blanks that do not end a
 * line collapsed to one space, line ends kept (one form, no blanks around them); trimmed; the
 * trailing run of blanks and `.!?…` dropped, and a `?` put back when the run held one (the router
 * reads lines and a trailing question mark).
 */
const reference = (text: string) => {
  const t = text
    .toLowerCase()
    .replace(/\r\n?|[\u2028\u2029]/g, "\n")
    .replace(/[^\S\n]+/g, " ")
    .replace(/ ?\n ?/g, "\n")
    .trim();
  const tail = /[\s.!?…]+$/u.exec(t);
  if (!tail) return t;
  return t.slice(0, tail.index) + (tail[0].includes("?") ? "?" : "");
};

/** Characters that matter to it: every kind of whitespace, the trailing punctuation, letters with case, astral characters. */
const piece = fc.constantFrom(
  " ",
  "  ",
  "\t",
  "\n",
  "\r\n",
  "\u00a0",
  "\u2003",
  "\u2028",
  "\u3000",
  "\ufeff",
  "\u180e",
  ".",
  "!",
  "?",
  "…",
  "?!",
  "...",
  "a",
  "B",
  "é",
  "İ",
  "ß",
  "Σ",
  "😀",
  "\ud800",
  "x y",
);

describe("normaliseText", () => {
  it("equals its definition (case, blanks, line ends, the trailing run and its `?`) for any text", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
        const text = parts.join("");
        expect(normaliseText(text)).toBe(reference(text));
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (text) => {
        expect(normaliseText(text)).toBe(reference(text));
      }),
      {
        numRuns: 5_000,
      },
    );
  });

  it("keeps equal questions equal, and what the router reads apart", () => {
    expect(normaliseText("  Why is the SKY blue?!  ")).toBe("why is the sky blue?");
    expect(normaliseText("why  is\tthe sky blue ?")).toBe("why is the sky blue?");
    expect(normaliseText("Hello there!")).toBe(normaliseText("hello there."));
    // A question is not a statement; lines are not spaces (code is told by its lines).
    expect(normaliseText("know any good riddles?")).not.toBe(normaliseText("know any good riddles"));
    expect(normaliseText("why\tis\r\n\nthe sky blue …")).toBe("why is\n\nthe sky blue");
    expect(normaliseText("?!. ")).toBe("?");
  });
});

describe("routeCacheKey", () => {
  const keys = createKeyBuilder();
  it("keys a short message by its normalised text, a long one by its SHA-256, never colliding with a text", async () => {
    expect(routeCacheKey(keys, "u", "Why is the sky blue?")).toBe(keys.key("route", "u", "why is the sky blue?"));
    const long = "tell me about ".repeat(20);
    const key = routeCacheKey(keys, "u", long);
    expect(key).toMatch(/^zoe:v1:route:\{u\}:sha256:[0-9a-f]{64}$/);
    // The whole text counts, its case and spacing normalised as for short ones.
    expect(routeCacheKey(keys, "u", `${long}x`)).not.toBe(key);
    expect(routeCacheKey(keys, "u", long.toUpperCase())).toBe(key);
    // A message that spells a hashed id is one encoded segment: another key.
    const spelled = key.slice(key.indexOf("sha256:"));
    expect(routeCacheKey(keys, "u", spelled)).not.toBe(key);
  });

  it("a long message's route is cached under its short key", async () => {
    const cache = memoryCacheStore();
    const router = fixedRouter();
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router, cache });
    const message = "x ".repeat(5_000);
    for (let i = 0; i < 2; i++) for await (const _ of pipeline.run({ userId: "u", threadId: "t", message })) void _;
    expect(router.calls).toBe(1);
    expect(await cache.get(routeCacheKey(keys, "u", message))).toMatchObject({ kind: "chat" });
    await pipeline.close();
  });
});

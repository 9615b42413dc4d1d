/**
 * Text that reads the same is routed the same: full-width letters (typed with a CJK input method
 * in full-width mode), ligatures, and invisible format characters (direction marks, zero-width
 * spaces, soft hyphens, a byte-order mark) do not change a turn's kind.
 */
import { describe, expect, it } from "vitest";
import { classifyTurn } from "../../src/index.js";

const TURNS = [
  "hi",
  "thanks so much",
  "set a timer for 10 minutes",
  "turn off the kitchen lights",
  "what's the weather tomorrow",
  "write a python function that parses json",
  "plan a 5 day trip to japan",
  "why is the sky blue",
  "good morning zoe",
  "stell einen Wecker für 6 Uhr",
];

/** Printable ASCII to its full-width form (U+FF01–U+FF5E); spaces to the ideographic space. */
const fullWidth = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).replace(/ /g, "\u3000");

const variants: Array<[string, (s: string) => string]> = [
  ["full-width letters and digits", fullWidth],
  ["a left-to-right mark in front", (s) => `\u200e${s}`],
  ["a right-to-left mark in front", (s) => `\u200f${s}`],
  ["a byte-order mark in front", (s) => `\ufeff${s}`],
  ["soft hyphens inside words", (s) => s.replace(/e/g, "e\u00ad")],
  ["zero-width spaces after spaces", (s) => s.replace(/ /g, " \u200b")],
];

describe("routing of the same text in other Unicode forms", () => {
  for (const [what, variant] of variants) {
    it(`${what}: the same kind as the plain text`, () => {
      for (const text of TURNS) expect(classifyTurn(variant(text)).kind, JSON.stringify(variant(text))).toBe(classifyTurn(text).kind);
    });
  }

  it("a ligature is its letters", () => {
    expect(classifyTurn("ﬁnd my phone").kind).toBe(classifyTurn("find my phone").kind);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normaliseText } from "../../src/pipeline/stages/route.js";

/** The definition: what the route key of a turn is made of. */
const reference = (text: string) =>
  text
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim()
    .replace(/[\s.!?…]+$/u, "");

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
  it("equals lower-case, collapse whitespace, trim, drop trailing [\\s.!?…] for any text", () => {
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

  it("keeps equal questions equal", () => {
    expect(normaliseText("  Why is the SKY blue?!  ")).toBe("why is the sky blue");
    expect(normaliseText("why\tis\n\nthe sky blue …")).toBe("why is the sky blue");
    expect(normaliseText("?!. ")).toBe("");
  });
});

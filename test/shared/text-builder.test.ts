import { describe, expect, it } from "vitest";
import { TextBuilder } from "../../src/shared/text-builder.js";

describe("TextBuilder", () => {
  it("holds exactly the pieces appended, in order, however many (flattening changes nothing visible)", () => {
    const b = new TextBuilder();
    let expected = "";
    for (let i = 0; i < 5_000; i++) {
      const piece = i % 7 === 0 ? "é🙂" : i % 5 === 0 ? "" : `t${i} `;
      b.append(piece);
      expected += piece;
      if (i % 997 === 0) expect(b.text).toBe(expected);
    }
    expect(b.text).toBe(expected);
    expect(b.text.length).toBe(expected.length);
  });
});

/**
 * The rules run on what a user typed (up to 4,000 characters of it) on the event loop: none of
 * their regular expressions may backtrack more than linearly. Each input below is one a
 * backtracking pattern took seconds to minutes on (measured before the fix: `SELECT` and 4,000
 * spaces 21 s; the quadratic ones 8 to 90 s at 100,000 characters); now each takes a
 * millisecond or so, far inside the generous timeouts. The results are checked too.
 */
import { describe, expect, it } from "vitest";
import { classifyTurn } from "../../src/index.js";
import { classifyByRules, codeByStructure, countSentences } from "../../src/routing/rules.js";

const TIMEOUT = 5_000;
const BIG = 100_000;

describe("the routing rules on adversarial text", () => {
  it(
    '"select" and thousands of blanks: not code, and no cubic backtracking (was 21 s, through classifyTurn)',
    () => {
      for (const blank of [" ", "\t", "\n"]) {
        const text = `select${blank.repeat(3_993)}x`;
        expect(classifyByRules(text).kind).not.toBe("code");
        expect(classifyTurn(text).kind).toBeTypeOf("string");
      }
    },
    TIMEOUT * 2,
  );

  const noCode: Array<[string, string]> = [
    ["blank lines (each line start scanned to the end)", "\n".repeat(BIG)],
    ["carriage returns", "\r".repeat(BIG)],
    ["line separators", "\u2028".repeat(BIG)],
    ["indented blank lines", " \n".repeat(BIG / 2)],
    ['"  at" and a long word', `  at ${"a".repeat(BIG)}`],
    ['"import a" and blanks', `import a${" ".repeat(BIG)}`],
    ['"return" and blanks', `return${" ".repeat(BIG)}`],
    ['"a$a$…" before a parenthesis', `${"a$".repeat(BIG / 2)}(`],
    // A SELECT's column list may run over lines: unbounded, each "select" line ran to the end of the text (18 s here).
    ['lines that start with "select"', "Select\u2028".repeat((2 * BIG) / 7)],
  ];
  for (const [what, text] of noCode) {
    it(`${what}: not code, in linear time`, () => expect(codeByStructure(text)).toBeUndefined(), TIMEOUT);
  }

  it(
    "runs of punctuation are counted as one sentence end, in linear time",
    () => {
      expect(countSentences(`${"!?".repeat(BIG / 2)}x`)).toBe(0);
      expect(countSentences(`a${"!?".repeat(BIG / 2)} b?! c`)).toBe(2);
    },
    TIMEOUT,
  );

  it("still sees the code it saw before", () => {
    const cases: Array<[string, string]> = [
      ["TypeError x\n    at foo (/app/a.js:12:5)\n    at /app/b.js:3:1", "code: stack trace"],
      ["crash:\n\tat com.acme.Main.run(Main.java:42)", "code: stack trace"],
      ['oops\n  File "app.py", line 3, in <module>', "code: stack trace"],
      ["why does this fail\n#0 0x00007f in /usr/lib/x.so", "code: stack trace"],
      ["fix this:\n  import React from 'react'", "code: syntax line"],
      ["import { a, b } from './x'", "code: syntax line"],
      ["    return a + b;", "code: syntax line"],
      ["return\n  x;", "code: syntax line"],
      ["SELECT name, age\nFROM users", "code: syntax line"],
      ["select * from orders where id = 1", "code: syntax line"],
      ["why is $el.find(x) slow here", "code: inline syntax"],
      ["I call getUser(id) and nothing comes back", "code: inline syntax"],
    ];
    for (const [text, reason] of cases) expect(codeByStructure(text)?.reason, text).toBe(reason);
  });
});

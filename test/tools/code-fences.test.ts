import { describe, expect, it } from "vitest";
import { createFenceDetector } from "../../src/tools/code-fences.js";
import type { CodeBlock } from "../../src/tools/types.js";

/** Feeds `chunks`; returns each block with the index of the chunk (or "end") that produced it. */
function feed(chunks: readonly string[]): Array<{ block: CodeBlock; at: number | "end" }> {
  const detector = createFenceDetector();
  const found: Array<{ block: CodeBlock; at: number | "end" }> = [];
  chunks.forEach((chunk, index) => {
    for (const block of detector.push(chunk)) found.push({ block, at: index });
  });
  for (const block of detector.end()) found.push({ block, at: "end" });
  return found;
}

const blocksOf = (text: string): CodeBlock[] => feed([text]).map((f) => f.block);

/** A document, its blocks, and for each the offset just past the character that completes it. */
interface Case {
  name: string;
  text: string;
  blocks: CodeBlock[];
}

const cases: Case[] = [
  {
    name: "backticks with a language, in prose",
    text: "Here you go:\n```js\nconsole.log(1);\n```\nThat prints 1.\n",
    blocks: [{ language: "js", code: "console.log(1);\n" }],
  },
  {
    name: "tildes, a long info string, upper-case language",
    text: '~~~ JavaScript title="a.js" {.x}\nlet a = 1;\n\nlet b = 2;\n~~~\n',
    blocks: [{ language: "javascript", code: "let a = 1;\n\nlet b = 2;\n" }],
  },
  {
    name: "no language, then two blocks back to back",
    text: "```\nplain\n```\n```python\nprint(1)\n```\n```js\n```\n",
    blocks: [
      { language: "", code: "plain\n" },
      { language: "python", code: "print(1)\n" },
      { language: "js", code: "" },
    ],
  },
  {
    name: "a longer fence holds shorter fences and the other character",
    text: "````md\n```js\nx\n```\n~~~\n````\n~~~~\n```\n~~~\n~~~~\n",
    blocks: [
      { language: "md", code: "```js\nx\n```\n~~~\n" },
      { language: "", code: "```\n~~~\n" },
    ],
  },
  {
    name: "inline code and ``` inside a line are not fences",
    text: "Use `x` and ```y``` or a ``` in text.\n```js``` is inline too\nok ```js\nnot code\n```\n",
    blocks: [],
  },
  {
    name: "indented fences (up to 3 spaces) lose that indentation from content",
    text: "1. Step\n   ```js\n   let a = 1;\n     nested();\n  two();\n   ```\n",
    blocks: [{ language: "js", code: "let a = 1;\n  nested();\ntwo();\n" }],
  },
  {
    name: "4 spaces is indented code, not a fence",
    text: "    ```js\n    x\n    ```\n",
    blocks: [],
  },
  {
    name: "closing fences: trailing spaces allowed, text after is content",
    text: "```js\na\n``` not closed\n```   \t\n",
    blocks: [{ language: "js", code: "a\n``` not closed\n" }],
  },
  {
    name: "CRLF line endings",
    text: "```JS\r\nlet a = 1;\r\n```\r\nafter\r\n",
    blocks: [{ language: "js", code: "let a = 1;\n" }],
  },
  {
    name: "a closing fence at the very end, without a newline",
    text: "```js\n1 + 1\n```",
    blocks: [{ language: "js", code: "1 + 1\n" }],
  },
  {
    name: "an unclosed block at the end is dropped",
    text: "```js\nconsole.log('cut off",
    blocks: [],
  },
  {
    name: "backticks in a tilde info string are allowed",
    text: "~~~ js `odd`\nx\n~~~\n",
    blocks: [{ language: "js", code: "x\n" }],
  },
  {
    name: "a fence needs 3 characters; mixed characters do not close",
    text: "``\nnot a fence\n``\n```ts\na\n~~~\n``\n```\n",
    blocks: [{ language: "ts", code: "a\n~~~\n``\n" }],
  },
];

/**
 * An independent, whole-text reading of the same rules (regular expressions over complete lines):
 * the blocks, and where each completes: the offset just past the `\n` that ends its closing fence
 * line, or `text.length + 1` when only end() completes it.
 */
function reference(text: string): Array<{ block: CodeBlock; completesAt: number }> {
  const lines = text.split("\n");
  const out: Array<{ block: CodeBlock; completesAt: number }> = [];
  let open: { indent: number; fence: string; language: string; code: string } | undefined;
  let offset = 0;
  lines.forEach((raw, i) => {
    const last = i === lines.length - 1;
    if (last && raw === "") return;
    const completesAt = last ? text.length + 1 : offset + raw.length + 1;
    offset += raw.length + 1;
    const line = raw.replace(/\r$/, "");
    if (open === undefined) {
      const m = /^( {0,3})(`{3,}|~{3,})(.*)$/.exec(line);
      if (m && !(m[2]?.startsWith("`") && m[3]?.includes("`"))) {
        const language = (m[3] ?? "").trim().split(/[ \t]/)[0]?.toLowerCase() ?? "";
        open = { indent: m[1]?.length ?? 0, fence: m[2] ?? "", language, code: "" };
      }
      return;
    }
    const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line)?.[1];
    if (close !== undefined && close[0] === open.fence[0] && close.length >= open.fence.length) {
      out.push({ block: { language: open.language, code: open.code }, completesAt });
      open = undefined;
    } else {
      open.code += `${line.replace(new RegExp(`^ {0,${open.indent}}`), "")}\n`;
    }
  });
  return out;
}

const completionOffsets = (text: string): number[] => reference(text).map((r) => r.completesAt);

describe("createFenceDetector", () => {
  for (const c of cases) {
    describe(c.name, () => {
      it("finds the blocks in the whole text", () => {
        expect(blocksOf(c.text)).toEqual(c.blocks);
        expect(reference(c.text).map((r) => r.block)).toEqual(c.blocks); // the oracle agrees
      });

      it("finds the same blocks at every split point, each as soon as it is complete", () => {
        const offsets = completionOffsets(c.text);
        for (let split = 0; split <= c.text.length; split++) {
          const found = feed([c.text.slice(0, split), c.text.slice(split)]);
          expect(
            found.map((f) => f.block),
            `split at ${split}`,
          ).toEqual(c.blocks);
          found.forEach((f, i) => {
            const offset = offsets[i] as number;
            const expected = offset <= split ? 0 : offset <= c.text.length ? 1 : "end";
            expect(f.at, `block ${i}, split at ${split}`).toBe(expected);
          });
        }
      });

      it("finds the same blocks fed one character at a time, each at its closing newline", () => {
        const found = feed(c.text.split(""));
        expect(found.map((f) => f.block)).toEqual(c.blocks);
        const offsets = completionOffsets(c.text);
        found.forEach((f, i) => {
          const offset = offsets[i] as number;
          expect(f.at).toBe(offset <= c.text.length ? offset - 1 : "end");
          if (f.at !== "end") expect(c.text[f.at]).toBe("\n");
        });
      });

      it("finds the same blocks at every pair of split points", () => {
        const n = c.text.length;
        for (let a = 0; a <= n; a++) {
          for (let b = a; b <= n; b++) {
            const found = feed([c.text.slice(0, a), c.text.slice(a, b), c.text.slice(b)]);
            expect(
              found.map((f) => f.block),
              `splits at ${a}, ${b}`,
            ).toEqual(c.blocks);
          }
        }
      });
    });
  }

  it("handles a long answer split into random token-sized chunks", () => {
    const text = cases.map((c) => c.text).join("\nSome prose between blocks.\n\n");
    const expected = blocksOf(text);
    expect(expected.length).toBeGreaterThan(8);
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 50; round++) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; ) {
        const size = 1 + Math.floor(random() * 8);
        chunks.push(text.slice(i, i + size));
        i += size;
      }
      expect(feed(chunks).map((f) => f.block)).toEqual(expected);
    }
  });

  it("is reusable after end()", () => {
    const detector = createFenceDetector();
    expect(detector.push("```js\nunfinished")).toEqual([]);
    expect(detector.end()).toEqual([]);
    expect(detector.push("```py\nx\n```\n")).toEqual([{ language: "py", code: "x\n" }]);
    expect(detector.end()).toEqual([]);
  });

  it("keeps linear time on a huge line fed one character at a time", () => {
    const detector = createFenceDetector();
    detector.push("```js\n// ");
    const found: CodeBlock[] = [];
    for (let i = 0; i < 300_000; i++) found.push(...detector.push("x"));
    found.push(...detector.push("\n```\n"));
    expect(found).toHaveLength(1);
    expect(found[0]?.code.length).toBe(300_000 + 4);
  });
});

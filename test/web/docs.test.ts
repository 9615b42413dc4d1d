import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

/**
 * docs/web-ui.md and docs/copilotkit.md quote the browser examples in blocks marked
 * "```ts file=<path>" or "```tsx file=<path>" (browser code that the docs' snippet check, which
 * type-checks every plain ```ts block without DOM types, cannot compile). Each quote must be
 * in the file it names, word for word (a line "// …" separates quoted parts), so that the docs
 * show the code the tests build, type-check and drive.
 */
describe("the browser examples' docs quote their code exactly", () => {
  for (const doc of ["docs/web-ui.md", "docs/copilotkit.md"]) {
    it(doc, () => {
      const text = readFileSync(`${root}${doc}`, "utf8");
      const quotes = [...text.matchAll(/^```tsx? file=(\S+)\n([\s\S]*?)^```/gm)];
      expect(quotes.length).toBeGreaterThan(0);
      for (const [, path, code] of quotes) {
        const source = readFileSync(`${root}${path}`, "utf8");
        for (const part of code!.split(/^\s*\/\/ …\n/m)) expect(source, `${doc} quotes ${path}`).toContain(part);
      }
    });
  }
});

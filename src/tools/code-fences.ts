import type { CodeBlock } from "./types.js";

const OPEN = /^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$/;

/**
 * Finds fenced code blocks (CommonMark ``` and ~~~ fences) in text that arrives in pieces: each
 * block is returned as soon as its closing fence line is complete. Work is linear in the text.
 */
export function createFenceDetector(): { push(text: string): CodeBlock[]; end(): CodeBlock[] } {
  let line = "";
  let fence: { char: string; length: number; language: string; lines: string[] } | undefined;

  const closeLine = (text: string): CodeBlock | undefined => {
    if (!fence) {
      const open = OPEN.exec(text);
      if (open && !(open[1]!.startsWith("`") && text.slice(text.indexOf(open[1]!) + open[1]!.length).includes("`"))) {
        fence = { char: open[1]![0]!, length: open[1]!.length, language: (open[2] ?? "").toLowerCase(), lines: [] };
      }
      return undefined;
    }
    const trimmed = text.replace(/^ {0,3}/, "").trimEnd();
    if (trimmed.length >= fence.length && trimmed === fence.char.repeat(trimmed.length)) {
      const block = { language: fence.language, code: fence.lines.length ? `${fence.lines.join("\n")}\n` : "" };
      fence = undefined;
      return block;
    }
    fence.lines.push(text);
    return undefined;
  };

  return {
    push(text) {
      const blocks: CodeBlock[] = [];
      let start = 0;
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", start)) {
        const block = closeLine(line + text.slice(start, i).replace(/\r$/, ""));
        line = "";
        if (block) blocks.push(block);
        start = i + 1;
      }
      line += text.slice(start);
      return blocks;
    },
    end() {
      const rest = line;
      line = "";
      const block = rest ? closeLine(rest) : undefined;
      fence = undefined;
      return block ? [block] : [];
    },
  };
}

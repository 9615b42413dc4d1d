import type { CodeBlock } from "./types.js";

/** Finds fenced code blocks in text that arrives in pieces. See {@link createFenceDetector}. */
export interface FenceDetector {
  /** Feeds the next piece of text; returns the blocks whose closing fence line it completed. */
  push(text: string): CodeBlock[];
  /**
   * Ends the text: a last line without a newline is taken as complete (it may close a block).
   * A block still open then is dropped: it was cut off, so it is not complete code. The detector
   * is reset and can be used again.
   */
  end(): CodeBlock[];
}

interface OpenFence {
  char: "`" | "~";
  length: number;
  indent: number;
  language: string;
  lines: string[];
}

/**
 * A streaming detector of fenced code blocks, for a model's answer fed token by token. Pieces
 * may be split anywhere, inside a fence marker or its language tag too: a line is looked at only
 * once it is complete (its `\n` has arrived, or at {@link FenceDetector.end}), and each block is
 * returned by the call that completes its closing fence line.
 *
 * CommonMark's rules, for top-level blocks:
 * - an opening fence line is up to 3 spaces, then 3 or more backticks or tildes, then an optional
 *   info string (for backtick fences it may not contain a backtick, so ```` ```x``` ```` at the
 *   start of a line is inline code); the info string's first word is the language, lower-cased
 *   (`""` when there is none);
 * - the block ends at a line of up to 3 spaces, then the same character at least as many times,
 *   then only spaces or tabs;
 * - up to as many leading spaces as the opening fence had are removed from each content line;
 *   `code` is the content lines, each ending with `\n` (`""` for an empty block);
 * - backticks inside a line (`x`, or ``` after other text) are not fences.
 * Line endings are `\n` or `\r\n`. Fences nested in block quotes or indented list items (4+
 * spaces) are not recognised.
 *
 * Time is linear in the text: every character is looked at a bounded number of times, and the
 * only text kept is the current line and the open block's lines.
 */
export function createFenceDetector(): FenceDetector {
  let pieces: string[] = [];
  let open: OpenFence | undefined;

  const completeLine = (raw: string, found: CodeBlock[]): void => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (open === undefined) {
      open = openingFence(line);
      return;
    }
    if (isClosingFence(line, open)) {
      found.push({ language: open.language, code: open.lines.join("") });
      open = undefined;
      return;
    }
    open.lines.push(`${stripIndent(line, open.indent)}\n`);
  };

  return {
    push(text: string): CodeBlock[] {
      const found: CodeBlock[] = [];
      let start = 0;
      for (let newline = text.indexOf("\n"); newline !== -1; newline = text.indexOf("\n", start)) {
        pieces.push(text.slice(start, newline));
        const line = pieces.length === 1 ? (pieces[0] as string) : pieces.join("");
        pieces = [];
        completeLine(line, found);
        start = newline + 1;
      }
      if (start < text.length) pieces.push(start === 0 ? text : text.slice(start));
      return found;
    },
    end(): CodeBlock[] {
      const found: CodeBlock[] = [];
      if (pieces.length > 0) {
        const line = pieces.join("");
        pieces = [];
        completeLine(line, found);
      }
      open = undefined;
      return found;
    },
  };
}

/** Leading spaces (at most 4 counted), or -1 when the line starts with a tab after them. */
function indentation(line: string): number {
  let i = 0;
  while (i < 4 && line.charCodeAt(i) === 32) i++;
  return i;
}

function runLength(line: string, from: number, char: string): number {
  let i = from;
  while (line[i] === char) i++;
  return i - from;
}

function openingFence(line: string): OpenFence | undefined {
  const indent = indentation(line);
  if (indent > 3) return undefined;
  const char = line[indent];
  if (char !== "`" && char !== "~") return undefined;
  const length = runLength(line, indent, char);
  if (length < 3) return undefined;
  const info = line.slice(indent + length).trim();
  if (char === "`" && info.includes("`")) return undefined;
  const language = (info.split(/[ \t]/, 1)[0] ?? "").toLowerCase();
  return { char, length, indent, language, lines: [] };
}

function isClosingFence(line: string, open: OpenFence): boolean {
  const indent = indentation(line);
  if (indent > 3) return false;
  const length = runLength(line, indent, open.char);
  if (length < open.length) return false;
  for (let i = indent + length; i < line.length; i++) {
    const c = line[i];
    if (c !== " " && c !== "\t") return false;
  }
  return true;
}

function stripIndent(line: string, indent: number): string {
  let i = 0;
  while (i < indent && line.charCodeAt(i) === 32) i++;
  return i === 0 ? line : line.slice(i);
}

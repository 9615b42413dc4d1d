import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** The ```ts blocks of a Markdown file. */
const tsBlocks = (markdown: string): string[] => [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");

describe("docs/redis.md", () => {
  it("has ```ts blocks that are complete modules and type-check against the package (tsconfig paths)", () => {
    const blocks = tsBlocks(readFileSync(`${root}docs/redis.md`, "utf8"));
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    const parsed = ts.getParsedCommandLineOfConfigFile(
      `${root}tsconfig.json`,
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
        },
      },
    );
    if (!parsed) throw new Error("tsconfig.json could not be read.");
    const files = blocks.map((_, i) => `${root}docs/redis.md.block${i}.ts`);
    const host = ts.createCompilerHost(parsed.options);
    const text = (name: string) => {
      const i = files.indexOf(name);
      return i === -1 ? undefined : blocks[i];
    };
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, language, ...rest) => {
      const block = text(name);
      return block === undefined ? getSourceFile(name, language, ...rest) : ts.createSourceFile(name, block, language);
    };
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => text(name) !== undefined || fileExists(name);
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => text(name) ?? readFile(name);
    const program = ts.createProgram(files, { ...parsed.options, noEmit: true }, host);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file !== undefined && files.includes(d.file.fileName))
      .map((d) => {
        const { line } = d.file?.getLineAndCharacterOfPosition(d.start ?? 0) ?? { line: 0 };
        return `block ${files.indexOf(d.file?.fileName ?? "")}, line ${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
    expect(problems).toEqual([]);
    for (const block of blocks) expect(block, "a complete module: imports the package").toMatch(/from "zoe-pipeline(\/redis)?"/);
  }, 180_000);
});

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

// Every ```ts block of the README and of docs/ is a complete module that must type-check against
// the package's own source, with the project's compiler settings: what users paste compiles.
const root = fileURLToPath(new URL("../../", import.meta.url));
const outDir = `${root}test-artifacts/snippets/`;

function markdownFiles(): string[] {
  const docs = existsSync(`${root}docs`)
    ? readdirSync(`${root}docs`)
        .filter((f) => f.endsWith(".md"))
        .map((f) => `docs/${f}`)
    : [];
  return ["README.md", ...docs];
}

function snippets(file: string): Array<{ name: string; line: number; code: string }> {
  const text = readFileSync(`${root}${file}`, "utf8");
  const out: Array<{ name: string; line: number; code: string }> = [];
  const re = /^```(?:ts|typescript)\n([\s\S]*?)^```/gm;
  for (const match of text.matchAll(re)) {
    const line = text.slice(0, match.index).split("\n").length;
    out.push({ name: `${file.replace(/[/.]/g, "_")}_L${line}.ts`, line, code: match[1]! });
  }
  return out;
}

describe("documentation snippets", () => {
  it("every TypeScript block in README.md and docs/*.md type-checks", () => {
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    const where = new Map<string, string>();
    for (const file of markdownFiles()) {
      for (const s of snippets(file)) {
        writeFileSync(`${outDir}${s.name}`, s.code);
        where.set(`${outDir}${s.name}`, `${file}:${s.line}`);
      }
    }
    expect(where.size).toBeGreaterThan(0);
    const config = ts.readConfigFile(`${root}tsconfig.json`, ts.sys.readFile);
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
    const program = ts.createProgram([...where.keys()], { ...parsed.options, noEmit: true, moduleDetection: ts.ModuleDetectionKind.Force });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file && where.has(d.file.fileName))
      .map((d) => {
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        return `${where.get(d.file!.fileName)} (+${line + 1}): ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
    expect(problems).toEqual([]);
  }, 300_000);
});

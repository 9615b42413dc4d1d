/** Every ```ts block of docs/ollama.md is a complete module that type-checks against the package. */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

describe("docs/ollama.md", () => {
  it("each ts block type-checks as a module importing from zoe-pipeline", () => {
    const markdown = readFileSync(join(root, "docs/ollama.md"), "utf8");
    const blocks = [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    const configPath = join(root, "tsconfig.json");
    const config = ts.parseJsonConfigFileContent(ts.readConfigFile(configPath, ts.sys.readFile).config, ts.sys, dirname(configPath));
    const virtual = new Map(blocks.map((code, i) => [join(root, "docs", `ollama-block-${i}.ts`), code]));
    const host = ts.createCompilerHost(config.options);
    const { getSourceFile, fileExists, readFile } = host;
    host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
    host.readFile = (name) => virtual.get(name) ?? readFile.call(host, name);
    host.getSourceFile = (name, language, ...rest) => {
      const code = virtual.get(name);
      return code === undefined ? getSourceFile.call(host, name, language, ...rest) : ts.createSourceFile(name, code, language);
    };
    const program = ts.createProgram([...virtual.keys()], { ...config.options, noEmit: true }, host);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file && virtual.has(d.file.fileName))
      .map((d) => `${d.file!.fileName.split("/").pop()}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    expect(problems).toEqual([]);
    for (const code of blocks) expect(code).toMatch(/from "zoe-pipeline(\/ollama)?";/);
  }, 180_000);
});

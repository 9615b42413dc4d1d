import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";

/** docs/code-execution.md: every ```ts block is a complete module that type-checks; the runnable ones run. */

const root = fileURLToPath(new URL("../../", import.meta.url));
const markdown = readFileSync(join(root, "docs/code-execution.md"), "utf8");
const blocks = [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1] as string);

const scratch = mkdtempSync(join(tmpdir(), "zoe-docs-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Imports block `index` (written to a scratch file; "zoe-pipeline/…" resolve to src/ as in every test). */
async function load(index: number): Promise<Record<string, unknown>> {
  const file = join(scratch, `block-${index}.ts`);
  writeFileSync(file, blocks[index] as string);
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

describe("docs/code-execution.md", () => {
  it("has ts blocks that are complete modules and type-check against the package", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const config = ts.getParsedCommandLineOfConfigFile(
      join(root, "tsconfig.json"),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
        },
      },
    );
    if (config === undefined) throw new Error("tsconfig.json could not be read");
    // Virtual files next to the docs, so that tsconfig's paths map "zoe-pipeline/…" to src/.
    const files = new Map(blocks.map((code, i) => [join(root, "docs", `code-execution.block-${i}.ts`), code]));
    const host = ts.createCompilerHost(config.options);
    const { getSourceFile, fileExists, readFile } = host;
    host.fileExists = (name) => files.has(name) || fileExists.call(host, name);
    host.readFile = (name) => files.get(name) ?? readFile.call(host, name);
    host.getSourceFile = (name, language, ...rest) => {
      const text = files.get(name);
      return text === undefined ? getSourceFile.call(host, name, language, ...rest) : ts.createSourceFile(name, text, language, true);
    };
    const program = ts.createProgram([...files.keys()], { ...config.options, noEmit: true }, host);
    const problems = [...files.keys()].flatMap((name) => {
      const source = program.getSourceFile(name);
      return source === undefined
        ? [`${name}: not loaded`]
        : [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map(
            (d) =>
              `${name}:${d.start === undefined ? "" : source.getLineAndCharacterOfPosition(d.start).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`,
          );
    });
    expect(problems).toEqual([]);
    for (const code of blocks) expect(code).toMatch(/^import /); // complete modules: they import what they use
  }, 120_000); // a type-check of the whole package

  it("the set-up example runs a turn whose code block answers 42", async () => {
    const { example } = await load(0);
    expect(await (example as () => Promise<string[]>)()).toEqual(["42"]);
  });

  it("the results example explains each result", async () => {
    const { example } = await load(1);
    const [doubled, failed, python] = await (example as () => Promise<string[]>)();
    expect(doubled).toBe("[2,4,6]");
    expect(failed).toMatch(/^The code failed: TypeError: cannot read property 'x' of null/);
    expect(python).toBe('Cannot run this code: the QuickJS executor does not run "python"');
  });

  it("the status example samples and stops", async () => {
    const { sampleExecutor } = await load(2);
    const seen: unknown[] = [];
    const stop = (sampleExecutor as (record: (s: unknown) => void, ms: number) => () => Promise<void>)((s) => seen.push(s), 1);
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    await stop();
    expect(seen[0]).toEqual({ workers: 0, running: 0, queued: 0, users: 0, closed: false });
  });
});

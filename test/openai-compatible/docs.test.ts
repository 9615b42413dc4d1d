import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const doc = readFileSync(`${root}docs/openai-compatible.md`, "utf8");
const blocks = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);

describe("docs/openai-compatible.md", () => {
  it("has TypeScript examples, each a complete module importing the package by name", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const block of blocks) {
      expect(block).toMatch(/from "zoe-pipeline\/openai-compatible";/);
      expect(block).toMatch(/^export /m);
    }
  });

  it("every ```ts block type-checks against the sources (strict, as the package's tsconfig)", async () => {
    // Inside node_modules so that the blocks resolve the package's dependencies.
    const dir = `${root}node_modules/.cache/zoe-docs-openai-compatible-${process.pid}`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      blocks.forEach((block, i) => writeFileSync(`${dir}/block-${i}.ts`, block));
      const base = JSON.parse(readFileSync(`${root}tsconfig.json`, "utf8")) as { compilerOptions: Record<string, unknown> };
      const tsconfig = {
        compilerOptions: {
          ...base.compilerOptions,
          paths: { "zoe-pipeline": [`${root}src/index.ts`], "zoe-pipeline/openai-compatible": [`${root}src/openai-compatible/index.ts`] },
        },
        include: ["*.ts"],
      };
      writeFileSync(`${dir}/tsconfig.json`, JSON.stringify(tsconfig));
      const tsc = `${root}node_modules/typescript/bin/tsc`;
      const result = await promisify(execFile)(process.execPath, [tsc, "-p", `${dir}/tsconfig.json`], { cwd: dir }).catch(
        (error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? "", stderr: error.stderr ?? "", failed: true }),
      );
      // Only the blocks' own errors count (a file elsewhere in the tree may be mid-edit).
      const ownErrors = `${result.stdout}${result.stderr}`.split("\n").filter((line) => /^block-\d+\.ts\(/.test(line));
      expect(ownErrors).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

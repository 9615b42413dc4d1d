import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";

// What `npm publish` would ship, judged from `npm pack --dry-run` on the built package (`npm test`
// builds first; run `npm run build` before running this file alone).
const root = fileURLToPath(new URL("../", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<string, unknown> & {
  version: string;
  scripts: Record<string, string>;
};
let files: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(root, "dist/index.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm test does).");
  const { stdout } = await promisify(execFile)("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: root,
    maxBuffer: 64 * 2 ** 20,
  });
  const [report] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  files = report!.files.map((f) => f.path);
}, 120_000);

describe("the published package", () => {
  it("builds before it packs, and carries its licence, metadata and a dated CHANGELOG entry for its version", () => {
    expect(pkg.scripts.prepack).toBe("npm run build");
    for (const file of [
      "LICENSE",
      "README.md",
      "CHANGELOG.md",
      "package.json",
      "dist/index.js",
      "dist/index.cjs",
      "dist/index.d.ts",
      "dist/client.js",
      "dist/client.d.ts",
    ]) {
      expect(files, file).toContain(file);
    }
    expect(readFileSync(join(root, "LICENSE"), "utf8")).toMatch(/^MIT License\n\nCopyright \(c\) 2026 zoe-pipeline contributors\n/);
    expect(pkg.license).toBe("MIT");
    expect(pkg).toMatchObject({
      repository: { url: expect.stringContaining("github.com/zoe-pipeline/zoe-pipeline") },
      homepage: expect.any(String),
      bugs: { url: expect.any(String) },
    });
    expect(readFileSync(join(root, "CHANGELOG.md"), "utf8")).toMatch(
      new RegExp(`^## \\[${pkg.version.replace(/\./g, "\\.")}\\] - \\d{4}-\\d{2}-\\d{2}$`, "m"),
    );
  });

  it("has source maps that point only at files the package contains", () => {
    const maps = files.filter((f) => f.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(root, map), "utf8")) as { sources: string[] };
      for (const source of sources) {
        const target = normalize(join(dirname(map), source));
        if (!files.includes(target)) missing.push(`${map} → ${source}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("`zoe-pipeline/client` bundles for a browser (the main entry, with Node-only code, does not)", async () => {
    const bundle = (entry: string) =>
      build({
        stdin: { contents: `export * from ${JSON.stringify(entry)};`, resolveDir: root },
        bundle: true,
        platform: "browser",
        format: "esm",
        write: false,
        logLevel: "silent",
      });
    const client = await bundle("./dist/client.js");
    const code = client.outputFiles[0]!.text;
    expect(code).toContain("zoe.metrics");
    expect(code).not.toMatch(/from ["']node:/);
    await expect(bundle("./dist/index.js")).rejects.toThrow(/Could not resolve "(node:)?crypto"/);
  });
});

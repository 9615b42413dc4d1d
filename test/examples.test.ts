import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { quickStart } from "../examples/quick-start.js";

const root = new URL("../", import.meta.url);

describe("examples", () => {
  it("the README quick start is examples/quick-start.ts, verbatim", () => {
    const readme = readFileSync(new URL("README.md", root), "utf8");
    const marker = "<!-- example: examples/quick-start.ts";
    const block = readme.slice(readme.indexOf(marker)).match(/```ts\n([\s\S]*?)```/)?.[1];
    expect(block).toBe(readFileSync(new URL("examples/quick-start.ts", root), "utf8"));
  });

  it("the quick start streams the answer", async () => {
    expect(await quickStart()).toBe("Blue light scatters more than red light.");
  });

  it("the demo (npm run demo) runs four turns and prints routes, providers and metrics", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "examples/demo.ts"], {
      cwd: root,
      timeout: 60_000,
    });
    expect(stdout).toContain("route: greeting → gemma3n:e2b");
    expect(stdout).toContain("route: simple → gemma3n:e2b");
    expect(stdout).toMatch(/route: complex → llama3\.2 \(.*cached\)/);
    expect(stdout).toMatch(/calendar: timeout/);
    expect(stdout).toMatch(/memory: cached 0 ms/);
    expect(stdout.match(/time to first token/g)).toHaveLength(4);
  });
});

import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

/**
 * The browser examples (DOM, JSX) are left out of the root tsconfig.json: each has its own,
 * checked here so that `npm test` type-checks them too.
 */
describe("the browser examples type-check with their own tsconfig.json", () => {
  it.each(["examples/web", "examples/copilotkit"])(
    "%s",
    async (dir) => {
      const result = await promisify(execFile)(process.execPath, [tsc, "--noEmit", "-p", `${dir}/tsconfig.json`]).then(
        () => "",
        (error: { stdout?: string; message: string }) => error.stdout || error.message,
      );
      expect(result).toBe("");
    },
    120_000,
  );
});

import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);

describe("a request whose encoding a middleware set before the handler", () => {
  it("is answered with a JSON error (500 BODY_ENCODING_SET); the host process does not die of an uncaught exception", () => {
    const fixture = fileURLToPath(new URL("./fixtures/set-encoding-server.ts", import.meta.url));
    const child = spawnSync(process.execPath, [require.resolve("tsx/cli"), fixture], { encoding: "utf8", timeout: 60_000 });
    // docs/security.md: "No request crashes the host."
    expect({ status: child.status, stderr: child.stderr.split("\n").find((l) => /Error/.test(l)) ?? "" }).toEqual({
      status: 0,
      stderr: "",
    });
    // Its bytes are gone (decoded as the middleware asked): refused, not guessed at.
    expect(child.stdout).toContain("answered 500 BODY_ENCODING_SET");
  });
});

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { describe, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** The tiny test model: `ZOE_TEST_MODEL`, or `../shared/models/llama-2-tiny-random.gguf` from the project root. */
export const TEST_MODEL_PATH = resolve(root, process.env.ZOE_TEST_MODEL ?? "../shared/models/llama-2-tiny-random.gguf");
export const hasTestModel = existsSync(TEST_MODEL_PATH);

/**
 * Threads for the tests. The tiny model (1 layer, 8 dimensions) is all synchronisation and no
 * arithmetic: on a busy two-core machine one thread is many times faster than two.
 */
export const TEST_THREADS = Number(process.env.ZOE_TEST_THREADS ?? 1);

/**
 * `describe` for suites that run the real engine on the tiny model. Without the model they are
 * skipped with a message saying where it was looked for, except under CI=true, where a missing
 * model fails the run.
 */
export function describeWithModel(name: string, body: () => void): void {
  if (hasTestModel) {
    describe(name, body);
    return;
  }
  const why = `test model not found at ${TEST_MODEL_PATH} (set ZOE_TEST_MODEL to a GGUF file)`;
  if (process.env.CI === "true") {
    describe(name, () => {
      it("needs the test model", () => {
        throw new Error(`${why}: CI must provide it`);
      });
    });
    return;
  }
  console.warn(`[llama-cpp tests] skipping "${name}": ${why}`);
  describe.skip(`${name} (skipped: ${why})`, body);
}

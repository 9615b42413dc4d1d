import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { quickStart } from "../examples/quick-start.js";
import { startFakeOllama } from "./helpers/fake-ollama.js";
import { TEST_MODEL_PATH as TEST_MODEL } from "./llama-cpp/model.js";

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

  const demo = (args: string[], env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ["--import", "tsx", "examples/demo.ts", ...args], {
      cwd: root,
      timeout: 120_000,
      env: { ...process.env, ...env },
    });

  it.skipIf(!existsSync(TEST_MODEL) && process.env.CI !== "true")(
    "the demo (npm run demo) runs a real turn on the embedded llama.cpp backend and prints its timings",
    async () => {
      const { stdout } = await demo(["plan a three day trip to Porto"], { OLLAMA_HOST: "127.0.0.1:9", ZOE_MODEL_PATH: TEST_MODEL, ZOE_THREADS: "1" });
      expect(stdout).toContain(`backend: embedded llama.cpp on ${TEST_MODEL}`);
      expect(stdout).toMatch(/route complex → llama-2-tiny-random/);
      expect(stdout).toMatch(/provider profile: ok in [\d.]+ ms/);
      expect(stdout).toMatch(/provider calendar: timeout in [\d.]+ ms/);
      expect(stdout).toMatch(/\+ *\d+ ms {2}first token/);
      expect(stdout).toMatch(/done: time to first token [\d.]+ ms, total [\d.]+ ms, \d+ tokens, [\d.]+ tokens\/s/);
    },
  );

  it("the demo uses Ollama when it answers at OLLAMA_HOST", async () => {
    const ollama = await startFakeOllama({ models: { "llama3.2": { reply: "Porto is lovely in spring." } } });
    try {
      const { stdout } = await demo(["what is Porto like"], { OLLAMA_HOST: ollama.url });
      expect(stdout).toContain(`backend: Ollama at ${ollama.url}`);
      expect(stdout).toContain("Porto is lovely in spring.");
      expect(ollama.chats().some((r) => r.body?.keep_alive === "30m")).toBe(true);
    } finally {
      await ollama.close();
    }
  });

  it("the demo says what to do when there is no model", async () => {
    const failure = await demo(["hi"], { OLLAMA_HOST: "127.0.0.1:9", ZOE_MODEL_PATH: "" }).catch((e: { code: number; stderr: string }) => e);
    expect("code" in failure && failure.code).toBe(2);
    expect((failure as { stderr: string }).stderr).toMatch(/ollama pull llama3\.2[\s\S]*--model \.\/model\.gguf/);
  });
});

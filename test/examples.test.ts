import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { startFakeOllama } from "./helpers/fake-ollama.js";
import { TEST_MODEL_PATH as TEST_MODEL } from "./llama-cpp/model.js";

const root = new URL("../", import.meta.url);
const needsModel = !existsSync(TEST_MODEL) && process.env.CI !== "true";

/** Run a script of the repository as a user would (tsx resolves `zoe-pipeline` to src/ through tsconfig paths). */
const runScript = (script: string, args: string[], env: Record<string, string>) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: root,
    timeout: 240_000,
    env: { ...process.env, ...env },
  });

describe("README examples", () => {
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const marked = [...readme.matchAll(/<!-- example: (\S+)[^\n]*-->\n```ts\n([\s\S]*?)```/g)].map((m) => ({ path: m[1]!, block: m[2]! }));

  it("every README block marked `<!-- example: path -->` is that file, verbatim", () => {
    expect(marked.map((m) => m.path)).toEqual(["examples/quick-start.ts", "examples/quick-start-gguf.ts"]);
    for (const { path, block } of marked) expect(block, path).toBe(readFileSync(new URL(path, root), "utf8"));
  });

  it("the Ollama quick start streams an answer from the server at OLLAMA_HOST and prints its time to first token", async () => {
    const ollama = await startFakeOllama({ models: { "llama3.2": { reply: "Blue light scatters more than red light." } } });
    try {
      const { stdout } = await runScript("examples/quick-start.ts", [], { OLLAMA_HOST: ollama.url });
      expect(stdout).toMatch(/^Blue light scatters more than red light\.\n\(first token after [\d.]+ ms\)\n$/);
      const chat = ollama.chats()[0]?.body;
      expect(chat?.model).toBe("llama3.2");
      // The profile provider's context reached the model, in the system message.
      expect(JSON.stringify(chat?.messages)).toContain("The user is ada; they like short answers.");
    } finally {
      await ollama.close();
    }
  });

  it.skipIf(needsModel)("the GGUF quick start runs the model in ZOE_MODEL_PATH", async () => {
    const { stdout } = await runScript("examples/quick-start-gguf.ts", [], { ZOE_MODEL_PATH: TEST_MODEL });
    expect(stdout).toMatch(/\n\(\d+ tokens, first after [\d.]+ ms\)\n$/);
  });
});

describe("the demo (npm run demo)", () => {
  it.skipIf(needsModel)(
    "on the tiny model: a cold turn, cache hits and reused prompt tokens, then a greeting on the fast path",
    async () => {
      const { stdout } = await runScript("examples/demo.ts", [], {
        OLLAMA_HOST: "127.0.0.1:9",
        ZOE_MODEL_PATH: TEST_MODEL,
        ZOE_THREADS: "",
      });
      expect(stdout).toContain(`backend: embedded llama.cpp on ${TEST_MODEL}`);
      // It says plainly what the model is, and how to use a real one.
      expect(stdout).toMatch(/1 thread \(the default for a model file under 64 MiB/);
      expect(stdout).toContain("tiny random-weight TEST model: its answers are gibberish");
      expect(stdout).toMatch(/ollama pull llama3\.2[\s\S]*--model \.\/model\.gguf/);

      const [, first, second, third] = stdout.split(/\n── turn \d of 3, /);
      expect(first).toMatch(/route complex → llama-2-tiny-random/);
      expect(first).toMatch(/provider profile: ok in \d+ ms/);
      expect(first).toMatch(/provider calendar: timeout in \d+ ms/);
      expect(first).toMatch(/\+ *\d+ ms {2}first token/);
      expect(first).toMatch(/done: time to first token \d+ ms( \(model load \d+ ms\))?, total \d+ ms, \d+ tokens/);
      expect(first).toMatch(/cache: 0 hits, \d+ misses/);

      expect(second).toMatch(/provider profile: cached in \d+ ms/);
      expect(second).toMatch(/cache: [1-9]\d* hits, .*history 1\/1/);
      const prompt = second?.match(/prompt: (\d+) tokens, (\d+) evaluated: (\d+) reused from the engine's KV cache/);
      expect(prompt, "the second turn reuses the first turn's prompt prefix").not.toBeNull();
      const [total, evaluated, reused] = prompt!.slice(1).map(Number) as [number, number, number];
      expect(reused).toBeGreaterThan(0);
      expect(evaluated + reused).toBe(total);

      expect(third).toMatch(/route greeting → llama-2-tiny-random \(fast path\)/);
      expect(third).toMatch(/provider profile: cached/);
      expect(third).toMatch(/provider memory: skipped/);
      expect(stdout).toMatch(
        /\nsummary\nturn +route +first token +total +cache hits +prompt tokens evaluated\n1 cold .*\n2 same thread .*\n3 a greeting +greeting, fast path/,
      );
    },
  );

  it("uses Ollama when it answers at OLLAMA_HOST", async () => {
    const ollama = await startFakeOllama({ models: { "llama3.2": { reply: "Porto is lovely in spring." } } });
    try {
      const { stdout } = await runScript("examples/demo.ts", ["what is Porto like"], { OLLAMA_HOST: ollama.url });
      expect(stdout).toContain(`backend: Ollama at ${ollama.url}`);
      expect(stdout).toContain("> what is Porto like");
      expect(stdout).toContain("Porto is lovely in spring.");
      expect(stdout).not.toContain("gibberish");
      expect(stdout.match(/done: time to first token/g)).toHaveLength(3);
      expect(ollama.chats().every((r) => r.body?.keep_alive === "30m")).toBe(true);
    } finally {
      await ollama.close();
    }
  });

  it("says what to do when there is no model", async () => {
    const failure = await runScript("examples/demo.ts", ["hi"], { OLLAMA_HOST: "127.0.0.1:9", ZOE_MODEL_PATH: "" }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect("code" in failure && failure.code).toBe(2);
    expect((failure as { stderr: string }).stderr).toMatch(/ollama pull llama3\.2[\s\S]*--model \.\/model\.gguf/);
  });
});

import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent } from "../../src/index.js";
import { quickjsExecutor } from "../../src/quickjs/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { collect, expectValidStream, runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const results = (events: AGUIEvent[]) =>
  events.flatMap((e) => (e.type === EventType.TOOL_CALL_RESULT && typeof e.content === "string" ? [e.content] : []));

/** The model's answer, cut into small pieces that split the fences and the language tag. */
function answer(...blocks: string[]): ScriptStep[] {
  const text = `Let me compute that.\n${blocks.map((code) => `\`\`\`JavaScript\n${code}\n\`\`\`\n`).join("Then:\n")}Done.`;
  const steps: ScriptStep[] = [];
  for (let i = 0; i < text.length; i += 3) steps.push({ type: "text", text: text.slice(i, i + 3) });
  return steps;
}

describe("quickjsExecutor in the pipeline", () => {
  it("runs each fenced JavaScript block of the streamed answer and returns its output as the tool result", async () => {
    const codeExecutor = quickjsExecutor({ timeoutMs: 200 });
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: answer("console.log([1, 2, 3].reduce((a, b) => a + b))", "while (true) {}", "null.x") }),
      router: fixedRouter(),
      codeExecutor,
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "sum 1..3" }));
    const contents = results(events);
    expect(contents).toHaveLength(3);
    expect(contents).toContain("6");
    expect(contents).toContain("Error: time limit of 200 ms exceeded");
    expect(contents.some((c) => c.startsWith("Error: TypeError: cannot read property 'x' of null"))).toBe(true);
    await pipeline.close(); // closes the executor too
    expect(await codeExecutor.execute("1", { signal: new AbortController().signal, language: "js" })).toMatchObject({ ok: false });
  });

  it("has nothing to run when the answer has no complete block", async () => {
    const codeExecutor = quickjsExecutor();
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: textChunks("Inline `code` and ```js``` are not blocks.\n```js\nconsole.log('cut off") }),
      router: fixedRouter(),
      codeExecutor,
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "x" }));
    expect(events.some((e) => e.type === EventType.TOOL_CALL_START)).toBe(false);
    await pipeline.close();
  });

  it("runs one user's block while another user's infinite loop holds a worker", async () => {
    const codeExecutor = quickjsExecutor({ timeoutMs: 600_000, maxWorkers: 2 });
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: (request) => answer(request.userId === "mallory" ? "while (true) {}" : "console.log(6 * 7)") }),
      router: fixedRouter(),
      codeExecutor,
    });
    let malloryDone = false;
    const mallory = collect(pipeline.run({ userId: "mallory", message: "loop" })).finally(() => (malloryDone = true));
    while (codeExecutor.status().running === 0) await new Promise((resolve) => setTimeout(resolve, 5));

    const events = await runValid(pipeline.run({ userId: "ada", message: "what is 6 * 7" }));
    expect(results(events)).toEqual(["42"]);
    expect(malloryDone).toBe(false);

    await pipeline.close(); // ends mallory's run and her block
    await expectValidStream(await mallory);
    expect(codeExecutor.status()).toMatchObject({ workers: 0, running: 0, queued: 0 });
  });
});

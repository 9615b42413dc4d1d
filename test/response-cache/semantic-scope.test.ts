import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid, textOf } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { answerState } from "./helpers.js";

/** An embedding that depends on the question only (what an embedding model gives for equal text). */
const embed = async (text: string) => [1, text.length, 0];

describe("semantic response cache: what the scope leaves out", () => {
  it("an answer given under the fallback system prompt (the host's function was late) is not served to turns with the real one", async () => {
    const backend = scriptedBackend({
      script: (r) => textChunks(String(r.messages[0]?.content).includes("French") ? "Bonjour !" : "Hello!"),
    });
    let late = true;
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      // The user's language lives in the system prompt; its first build misses its deadline once.
      systemPrompt: async () => {
        if (late) {
          late = false;
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        return "Always answer in French.";
      },
      deadlines: { systemPromptMs: 50 },
      responseCache: { semantic: { embed, timeoutMs: 5_000 } },
    });
    const first = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Say hello" }));
    expect(textOf(first)).toBe("Hello!"); // the fallback prompt's answer
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "Say hello" }));
    await pipeline.close();
    // The second run has the French system prompt: the English answer must not be replayed.
    expect(answerState(second)).toEqual({ hit: false });
    expect(textOf(second)).toBe("Bonjour !");
  });

  it("an answer about the client's context (AG-UI `context`, a CopilotKit readable) is not served for other context", async () => {
    const backend = scriptedBackend({
      script: (r) =>
        textChunks(JSON.stringify(r.messages).includes("quarterly report") ? "It is the Q3 report." : "It is the outage postmortem."),
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), responseCache: { semantic: { embed, timeoutMs: 5_000 } } });
    const input = (thread: string, document: string, question = "What is this document?") => ({
      threadId: thread,
      runId: `run-${thread}`,
      messages: [{ id: `m-${thread}`, role: "user" as const, content: question }],
      tools: [],
      context: [{ description: "the open document", value: document }],
    });
    const first = await runValid(pipeline.run(input("t1", "The quarterly report for Q3."), { userId: "ada" }));
    expect(textOf(first)).toBe("It is the Q3 report.");
    const second = await runValid(pipeline.run(input("t2", "Postmortem of the March outage."), { userId: "ada" }));
    expect(textOf(second)).toBe("It is the outage postmortem.");
    // A question that embeds the same, about the same document, is still served from the cache.
    const third = await runValid(pipeline.run(input("t3", "The quarterly report for Q3.", "What is that document?"), { userId: "ada" }));
    await pipeline.close();
    expect(answerState(third)).toMatchObject({ hit: true, kind: "semantic" });
    expect(textOf(third)).toBe("It is the Q3 report.");
  });

  it("an answer given under an earlier system prompt (a new deploy changed it) is not served under the new one", async () => {
    let prompt = "Answer in English.";
    const backend = scriptedBackend({
      script: (r) => textChunks(String(r.messages[0]?.content).includes("French") ? "Bonjour !" : "Hello!"),
    });
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      systemPrompt: async () => prompt,
      ttl: { systemPromptMs: 0 },
      responseCache: { semantic: { embed, timeoutMs: 5_000 } },
    });
    expect(textOf(await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Say hello" })))).toBe("Hello!");
    prompt = "Always answer in French.";
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "Say hello" }));
    await pipeline.close();
    expect(answerState(second)).toEqual({ hit: false });
    expect(textOf(second)).toBe("Bonjour !");
  });
});

/**
 * `think` as Ollama reads it (`server/routes.go` `ChatHandler`): omitted means "think" on a model
 * with the thinking capability (Ollama ≥ 0.12.4); `think: true` or a level on a model without it
 * is 400 `"x" does not support thinking`.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType } from "../../src/index.js";
import { ollamaBackend } from "../../src/ollama/index.js";
import { runValid, textOf } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { ask, drain, onCleanup, setup, signal, text } from "./helpers.js";

const thinking = (chunks: Awaited<ReturnType<typeof drain>>) =>
  chunks
    .filter((c) => c.type === "thinking")
    .map((c) => (c.type === "thinking" ? c.text : ""))
    .join("");

describe("ollamaBackend think (server/routes.go ChatHandler: omitted think is true on a thinking model)", () => {
  it("sends think: false when neither the request nor the settings ask for thinking, so a thinking model answers at once", async () => {
    const { server, backend } = await setup({ models: { qwen3: { thinking: "Let me consider the greeting.", reply: "Hi!" } } });
    const chunks = await drain(backend.chat(ask("hello", "qwen3"), { signal: signal() }));
    expect(server.chats()[0]!.body!.think).toBe(false);
    expect(thinking(chunks)).toBe("");
    expect(text(chunks)).toBe("Hi!");
  });

  it("sends the request's think, a level included, over the model's setting", async () => {
    const { server, backend } = await setup(
      { models: { qwen3: { thinking: "Reasoning.", reply: "Hi!" }, deep: { thinking: "Deep reasoning.", reply: "Yes." } } },
      { think: "low", models: { deep: { think: "high" } } },
    );
    const a = await drain(backend.chat(ask("hello", "qwen3"), { signal: signal() }));
    const b = await drain(backend.chat(ask("hello", "deep"), { signal: signal() }));
    const c = await drain(backend.chat(ask("hello", "deep", { think: false }), { signal: signal() }));
    const d = await drain(backend.chat(ask("hello", "qwen3", { think: "medium" }), { signal: signal() }));
    expect(server.chats().map((r) => r.body!.think)).toEqual(["low", "high", false, "medium"]);
    expect([thinking(a), thinking(b), thinking(c), thinking(d)]).toEqual(["Reasoning.", "Deep reasoning.", "", "Reasoning."]);
  });

  it('a model without the capability answers 400 "does not support thinking": retried once without, and remembered per model', async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { reply: "Plain." }, qwen3: { thinking: "Hmm.", reply: "Sure." } } });
    const first = await drain(backend.chat(ask("hi", "llama3.2", { think: true }), { signal: signal() }));
    expect(text(first)).toBe("Plain.");
    expect(server.chats().map((r) => r.body!.think)).toEqual([true, false]);
    expect(server.chats()[0]!.status).toBe(400);
    // the next request for that model is not sent with thinking again
    await drain(backend.chat(ask("again", "llama3.2", { think: "high" }), { signal: signal() }));
    expect(server.chats().map((r) => r.body!.think)).toEqual([true, false, false]);
    // another model still thinks
    const other = await drain(backend.chat(ask("hi", "qwen3", { think: true }), { signal: signal() }));
    expect(thinking(other)).toBe("Hmm.");
    expect(server.chats().at(-1)!.body!.think).toBe(true);
  });

  it("other 400s are not retried", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { capabilities: ["completion"] } } });
    const tools = [{ type: "function" as const, function: { name: "f" } }];
    await expect(drain(backend.chat(ask("hi", "llama3.2", { tools, think: false }), { signal: signal() }))).rejects.toMatchObject({
      code: "BACKEND_ERROR",
      status: 400,
    });
    expect(server.chats()).toHaveLength(1);
  });

  it("through the pipeline: think is false by default, so a thinking model gives no REASONING events", async () => {
    const { server } = await setup({ models: { qwen3: { thinking: "Long reasoning.", reply: "Quick answer." } } });
    const pipeline = createZoePipeline({ backend: ollamaBackend({ host: server.url }), router: fixedRouter("chat", "qwen3") });
    onCleanup(() => pipeline.close());
    const events = await runValid(pipeline.run({ userId: "u", message: "hello" }));
    expect(textOf(events)).toBe("Quick answer.");
    expect(events.some((e) => e.type === EventType.REASONING_MESSAGE_CONTENT)).toBe(false);
    expect(server.chats()[0]!.body!.think).toBe(false);
  });
});

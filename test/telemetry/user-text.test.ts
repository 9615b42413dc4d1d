/**
 * docs/monitoring.md: spans carry "never the user's message ...; the one exception is the status
 * description of a failed span". The route stage put the fallback reason, which holds the router's
 * error message verbatim, in the `zoe.route.fallback` attribute of a span that did not fail (and the
 * prompt stage the system prompt function's, in `zoe.system_prompt.fallback`). A router that parses
 * a small model's answer with JSON.parse and says what it got in its error quotes the user's question.
 * The attributes now name the fallback's kind in a word.
 */
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { createZoePipeline, type Router } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";

const SECRET = "my ssn is 078-05-1120";

/** A router that asks a model for JSON and gets prose that quotes the question back. */
function llmRouter(): Router {
  return {
    route(request) {
      const modelAnswer = `The question "${request.text}" is a chat question.`;
      try {
        return JSON.parse(modelAnswer);
      } catch {
        throw new Error(`the routing model answered ${JSON.stringify(modelAnswer)}, not JSON`);
      }
    },
    models: () => ["llama3.2"],
  };
}

describe("the user's text stays out of span attributes", () => {
  it("a router's failure message is not a span attribute (the fallback is named in a word)", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: llmRouter(),
      fallbackRouter: { route: () => ({ model: "llama3.2", kind: "chat", fastPath: false, reason: "fallback", options: {} }) },
      telemetry: { tracer: provider.getTracer("t") },
    });
    await runValid(pipeline.run({ userId: "u", threadId: "t", message: SECRET }));
    await pipeline.close();
    const attributes = exporter.getFinishedSpans().flatMap((s) => Object.entries(s.attributes));
    expect(attributes).toContainEqual(["zoe.route.fallback", "error"]);
    const leaks = exporter.getFinishedSpans().flatMap((s) =>
      Object.entries(s.attributes)
        .filter(([, v]) => String(v).includes("078-05"))
        .map(([k, v]) => `${s.name} ${k}=${String(v)}`),
    );
    expect(leaks).toEqual([]);
  });

  it("a system prompt function's failure message is not a span attribute", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: { route: () => ({ model: "llama3.2", kind: "chat", fastPath: false, reason: "test", options: {} }) },
      systemPrompt: ({ userId }) => {
        throw new Error(`no profile for ${userId}: ${SECRET}`);
      },
      telemetry: { tracer: provider.getTracer("t") },
    });
    await runValid(pipeline.run({ userId: "u", threadId: "t", message: SECRET }));
    await pipeline.close();
    const attributes = exporter.getFinishedSpans().flatMap((s) => Object.entries(s.attributes));
    expect(attributes).toContainEqual(["zoe.system_prompt.fallback", "error"]);
    expect(attributes.filter(([, v]) => String(v).includes("078-05"))).toEqual([]);
  });
});

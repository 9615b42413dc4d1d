import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent } from "../../src/index.js";
import { mcpToolCatalogue } from "../../src/mcp/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { alphaTools, betaTools, memoryServer } from "./servers.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

const providerState = (events: AGUIEvent[], name: string) =>
  (events.flatMap((e) => (e.type === EventType.STATE_DELTA ? e.delta : [])) as Array<{ path: string; value: unknown }>)
    .filter((op) => op.path === `/zoe/providers/${name}`)
    .at(-1)?.value as { status: string } | undefined;

async function setup() {
  const alpha = await memoryServer(alphaTools);
  const beta = await memoryServer(betaTools);
  const hung = await memoryServer(betaTools, { hangOnList: true });
  const catalogue = mcpToolCatalogue({
    timeoutMs: 300,
    servers: [
      { name: "beta", client: beta.client },
      { name: "alpha", client: alpha.client },
      { name: "hung", client: hung.client },
    ],
  });
  const backend = scriptedBackend();
  const pipeline = createZoePipeline({ backend, router: fixedRouter("chat"), providers: [catalogue] });
  open.push(pipeline, catalogue, alpha.server, beta.server, hung.server);
  const events = await runValid(pipeline.run({ userId: "u1", message: "what is the weather in Paris?" }));
  return { backend, events };
}

describe("mcpToolCatalogue in a pipeline", () => {
  it("is fetched within the provider deadline although one server hangs", async () => {
    const { events } = await setup();
    expect(providerState(events, "mcp-tools")?.status).toBe("ok");
  });

  // Needs the pipeline to pass a catalogue provider's tools to the model (being added).
  it("gives the model the MCP tools, sorted by name", async () => {
    const { backend } = await setup();
    const tools = backend.requests[0]?.tools?.map((t) => t.function.name);
    expect(tools).toEqual(["alpha__search", "beta__search", "calc", "fail", "mixed", "slow", "weather"]);
    expect(backend.requests[0]?.tools?.find((t) => t.function.name === "calc")?.function).toMatchObject({
      description: "Multiply.",
      parameters: { type: "object", properties: { x: { type: "number" }, y: { type: "number" } } },
    });
  });
});

import { mkdirSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../examples/express-server.js";
import { createZoePipeline, heuristicRouter, type ChatRequest } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { CHROMIUM, CHROMIUM_ARGS, chromiumMissing } from "../helpers/chromium.js";
import { testProvider } from "../helpers/fixtures.js";

const missing = chromiumMissing();
if (missing) console.warn(`skipping the web UI tests: ${missing}`);

/** A model script: offers choices when asked to choose, answers a choice, streams slowly for stories. */
function script(request: ChatRequest): ScriptStep[] {
  const last = request.messages.at(-1)!;
  const slowly = (text: string, ms: number) => textChunks(text).flatMap((c): ScriptStep[] => [c, { type: "delay", ms }]);
  if (last.role === "tool") return slowly(`You picked ${last.content}. Enjoy the trip!`, 20);
  if (/choose/i.test(last.content) && request.tools?.some((t) => t.function.name === "offer_choices")) {
    return [
      ...textChunks("Here are some options."),
      { type: "tool_call", call: { id: "call-choose-1", name: "offer_choices", arguments: { question: "Where to?", options: ["Porto", "Lisbon"] } } },
    ];
  }
  if (/story/i.test(last.content)) return slowly("Once upon a time there was a very long story that went on and on ".repeat(20), 80);
  return slowly("Trains are a lovely way to travel across Portugal.", 25);
}

describe.skipIf(!!missing)("the web UI in headless Chromium", () => {
  const backend = scriptedBackend({ script });
  const pipeline = createZoePipeline({
    backend,
    router: heuristicRouter({ models: { fast: "fast-model", default: "chat-model", complex: "big-model" } }),
    providers: [
      testProvider("profile", "Ada likes trains.", { placement: "stable", delayMs: 15 }),
      testProvider("memory", "No notes.", { delayMs: 30, ttlMs: 0 }),
      testProvider("calendar", "Free.", { delayMs: 2_000, timeoutMs: 100 }),
    ],
  });
  let server: Server;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = createApp(pipeline, { heartbeatMs: 50 }).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await pipeline.close();
  });

  const send = async (text: string) => {
    await page.fill("#message", text);
    await page.click("#send");
  };

  it("streams the answer and shows the route and each provider with timings", async () => {
    await send("tell me about trains in portugal");
    await expect.poll(() => page.textContent("#log li.assistant:last-child"), { timeout: 10_000 }).toContain("lovely way to travel");
    await expect.poll(() => page.textContent("#stage")).toBe("done");
    expect(await page.textContent("#route")).toBe("chat");
    expect(await page.textContent("#model")).toBe("chat-model");
    expect(await page.textContent("#reason")).toMatch(/chat/);
    expect(await page.textContent('#providers li[data-name="profile"]')).toMatch(/^profile: ok \d+ ms$/);
    expect(await page.textContent('#providers li[data-name="memory"]')).toMatch(/^memory: ok \d+ ms$/);
    expect(await page.textContent('#providers li[data-name="calendar"]')).toMatch(/^calendar: timeout \d+ ms$/);
    expect(await page.textContent("#ttft")).toMatch(/^\d+ ms$/);
    expect(await page.textContent("#tps")).toMatch(/^\d+$/);
  });

  it("renders a frontend tool's choices as buttons; a click continues the conversation", async () => {
    await send("help me choose a city for the weekend");
    await page.waitForSelector("#choices button", { timeout: 10_000 });
    expect(await page.locator("#choices button").allTextContents()).toEqual(["Porto", "Lisbon"]);
    expect(await page.textContent("#tools")).toContain("offer_choices");
    await page.click("#choices button:has-text('Porto')");
    expect(await page.isVisible("#choices")).toBe(false);
    await expect.poll(() => page.textContent("#log li.assistant:last-child"), { timeout: 10_000 }).toContain("You picked Porto");
    // the choice went back as the tool call's result
    const continued = backend.requests.at(-1)!;
    expect(continued.messages.at(-1)).toEqual({ role: "tool", content: "Porto", tool_name: "offer_choices", tool_call_id: expect.any(String) });
    expect(continued.messages.at(-2)?.tool_calls?.[0]?.function.name).toBe("offer_choices");
  });

  it("Stop aborts the run and the server cancels the model request", async () => {
    const before = backend.cancelled;
    await send("tell me a long story");
    await expect.poll(() => page.textContent("#log li.assistant:last-child"), { timeout: 10_000 }).toContain("Once upon");
    await page.click("#stop");
    await expect.poll(() => page.textContent("#stage")).toBe("stopped");
    await expect.poll(() => backend.cancelled, { timeout: 5_000 }).toBe(before + 1);
    await expect.poll(() => pipeline.activeRuns).toBe(0);
    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/web-ui.png", fullPage: true });
  });
});

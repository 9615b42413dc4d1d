import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../examples/express-server.js";
import { createZoePipeline, type ChatRequest } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { buildExample } from "../helpers/build-example.js";
import { CHROMIUM, CHROMIUM_ARGS, chromiumMissing } from "../helpers/chromium.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";
import { saveScreenshot } from "../helpers/screenshots.js";

const missing = chromiumMissing();
if (missing) console.warn(`skipping the CopilotKit tests: ${missing}`);

const STORY = "Trains are a **lovely** way to travel across Portugal: from Porto to Lisbon in under three hours, along the coast.";

/** The model: streams an answer word by word, offers choices when asked to choose, answers the pick. */
function script(request: ChatRequest): ScriptStep[] {
  const last = request.messages.at(-1)!;
  const slowly = (text: string, ms: number) => textChunks(text).flatMap((c): ScriptStep[] => [c, { type: "delay", ms }]);
  if (last.role === "tool") return slowly(`You picked **${last.content}**. Enjoy the trip!`, 10);
  if (/choose/i.test(last.content) && request.tools?.some((t) => t.function.name === "offer_choices")) {
    return [
      ...textChunks("Happy to help you pick."),
      {
        type: "tool_call",
        call: { id: "call-choose-1", name: "offer_choices", arguments: { question: "Where to?", options: ["Porto", "Lisbon"] } },
      },
    ];
  }
  return slowly(STORY, 60);
}

describe.skipIf(!!missing)("CopilotKit's chat on a zoe endpoint (examples/copilotkit) in headless Chromium", () => {
  const backend = scriptedBackend({ script });
  const pipeline = createZoePipeline({
    backend,
    router: fixedRouter("chat", "chat-model"),
    providers: [testProvider("profile", "Ada likes trains.", { delayMs: 10 })],
  });
  let server: Server;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const dist = await buildExample("copilotkit");
    // The built app and the Express example's endpoint (its cookie identity included) on one origin.
    const app = express();
    app.use(express.static(dist));
    app.use(createApp(pipeline, { heartbeatMs: 50 }));
    server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await pipeline.close();
  });

  describe.each([
    { width: 1280, height: 800 },
    { width: 390, height: 844 },
  ])("at $width px", ({ width, height }) => {
    let context: BrowserContext;
    let page: Page;
    let pageErrors: string[];
    let agentRequests: string[];

    beforeEach(async () => {
      context = await browser.newContext({ viewport: { width, height } });
      page = await context.newPage();
      pageErrors = [];
      agentRequests = [];
      page.on("pageerror", (error) => pageErrors.push(String(error)));
      // Everything the page asks the network for: only the app's own origin, the agent at /api/agent.
      page.on("request", (request) => {
        if (!request.url().startsWith(base)) agentRequests.push(`off-origin: ${request.url()}`);
        else if (request.url().includes("/api/")) agentRequests.push(`${request.method()} ${new URL(request.url()).pathname}`);
      });
      await page.goto(base);
      await page.getByTestId("copilot-chat-textarea").waitFor({ timeout: 15_000 });
    });
    afterEach(async () => {
      await context?.close();
      expect(pageErrors).toEqual([]);
    });

    const send = async (text: string) => {
      await page.getByTestId("copilot-chat-textarea").fill(text);
      await page.getByTestId("copilot-send-button").click();
    };
    const lastAnswer = () => page.getByTestId("copilot-assistant-message").last();
    const noHorizontalOverflow = async () => {
      const { scroll, viewport } = await page.evaluate<{ scroll: number; viewport: number }>(
        "({ scroll: document.scrollingElement.scrollWidth, viewport: innerWidth })",
      );
      expect(scroll).toBeLessThanOrEqual(viewport);
    };

    it("a message streams into the chat, token by token, with markdown rendered", async () => {
      await send("tell me about trains in portugal");
      // Part of the answer is on screen while the rest is still coming: it streams.
      await expect
        .poll(
          async () => {
            const text =
              (await lastAnswer()
                .textContent()
                .catch(() => "")) ?? "";
            return text.includes("Trains") && !text.includes("along the coast");
          },
          { timeout: 10_000, interval: 20 },
        )
        .toBe(true);
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("along the coast.");
      // CopilotKit's markdown renderer (streamdown) marks bold text with data-streamdown="strong"
      expect(await lastAnswer().locator('[data-streamdown="strong"], strong').first().textContent()).toBe("lovely");
      expect(await lastAnswer().textContent()).not.toContain("**");
      expect(await page.getByTestId("copilot-user-message").last().textContent()).toContain("tell me about trains in portugal");
      // CopilotKit talked to zoe directly: one POST to the AG-UI endpoint, no runtime, nothing off-origin.
      expect(agentRequests).toEqual(["POST /api/agent"]);
      await noHorizontalOverflow();
    });

    it("offer_choices as a human-in-the-loop tool: buttons, a click answers the call and the conversation continues", async () => {
      await send("help me choose a city for the weekend");
      const buttons = page.locator(".choices button");
      await expect.poll(() => buttons.count(), { timeout: 10_000 }).toBe(2);
      expect(await buttons.allTextContents()).toEqual(["Porto", "Lisbon"]);
      expect(await page.locator(".choices-question").textContent()).toBe("Where to?");
      await expect.poll(() => buttons.first().isEnabled(), { timeout: 10_000 }).toBe(true);
      await buttons.filter({ hasText: "Porto" }).click();
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("You picked Porto");
      // the pick went back as the result of the model's call, and the model saw both
      const seen = backend.requests.at(-1)!.messages;
      expect(seen.at(-1)).toMatchObject({ role: "tool", content: "Porto", tool_call_id: "call-choose-1" });
      expect(seen.at(-2)?.tool_calls?.[0]?.function.name).toBe("offer_choices");
      expect(agentRequests).toEqual(["POST /api/agent", "POST /api/agent"]);
      await noHorizontalOverflow();
      await expect.poll(() => buttons.filter({ hasText: "Porto" }).getAttribute("aria-pressed")).toBe("true");
      await saveScreenshot(page, `copilotkit-${width}`);
    });
  });
});

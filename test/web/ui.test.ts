import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../examples/express-server.js";
import { createZoePipeline, type ChatRequest, type ServerTool } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { buildExample } from "../helpers/build-example.js";
import { CHROMIUM, CHROMIUM_ARGS, chromiumMissing } from "../helpers/chromium.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";
import { saveScreenshot } from "../helpers/screenshots.js";

const missing = chromiumMissing();
if (missing) console.warn(`skipping the web UI tests: ${missing}`);

const MAX_INPUT_CHARS = 3_000;
const LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis".repeat(90); // 4,050 characters, no break
const USER_LONG_WORD = "Supercalifragilisticexpialidocious".repeat(60); // 2,040 characters, under the input limit
const ANSWER = [
  "## Porto today",
  "",
  "It is **24 °C and sunny** in Porto: a good day for the *Douro* waterfront.",
  "",
  "- Morning: a walk across the Dom Luís I bridge",
  "- Afternoon: the tram to Foz",
  "",
  "To fetch the forecast yourself:",
  "",
  "```ts",
  'const res = await fetch("/api/weather?city=Porto");',
  "const { tempC, sky } = await res.json();",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of a code block the page renders
  "console.log(`${tempC} °C, ${sky}`);",
  "```",
].join("\n");
const INJECTION = [
  "Here is some HTML:",
  "",
  "<script>window.__pwned = 'script'</script>",
  '<img src="/nope.png" onerror="window.__pwned = \'img\'">',
  '<a href="javascript:window.__pwned = \'href\'" id="bad-link">click me</a>',
  "<div onmouseover=\"window.__pwned = 'div'\">hover me</div>",
  "",
  "and `inline code` that stays text.",
].join("\n");

const slowly = (text: string, ms: number) => textChunks(text).flatMap((c): ScriptStep[] => [c, { type: "delay", ms }]);

/** The model: a server tool for the weather, offer_choices when asked to choose, a slow story, a late answer. */
function script(request: ChatRequest): ScriptStep[] {
  const last = request.messages.at(-1)!;
  if (last.role === "tool" && last.tool_name === "get_weather") return slowly(ANSWER, 2);
  if (last.role === "tool") return slowly(`You picked ${last.content}. Enjoy the trip!`, 10);
  const text = last.content;
  if (/weather/i.test(text) && request.tools?.some((t) => t.function.name === "get_weather")) {
    return [{ type: "tool_call", call: { id: "call-weather-1", name: "get_weather", arguments: { city: "Porto" } } }];
  }
  if (/choose/i.test(text) && request.tools?.some((t) => t.function.name === "offer_choices")) {
    return [
      ...textChunks("Happy to help you pick."),
      {
        type: "tool_call",
        call: { id: "call-choose-1", name: "offer_choices", arguments: { question: "Where to?", options: ["Porto", "Lisbon"] } },
      },
    ];
  }
  if (/html/i.test(text)) return textChunks(INJECTION);
  if (/long word/i.test(text)) return textChunks(`Here it is back: ${LONG_WORD} and a normal ending.`);
  if (/story/i.test(text)) return slowly("Once upon a time there was a train that went on and on. ".repeat(40), 60);
  if (/fail/i.test(text)) return [{ type: "error", message: "the model crashed", code: "MODEL_ERROR" }];
  if (/wait/i.test(text)) return [{ type: "delay", ms: 1_500 }, ...textChunks("Thanks for waiting.")];
  return slowly("Trains are a lovely way to travel across Portugal.", 5);
}

const getWeather: ServerTool = {
  name: "get_weather",
  description: "The weather in a city now",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  execute: ({ city }) => ({ city, tempC: 24, sky: "sunny" }),
};

const VIEWPORTS = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
] as const;

describe.skipIf(!!missing)("the example chat page (examples/web) in headless Chromium", () => {
  const backend = scriptedBackend({ script });
  const pipeline = createZoePipeline({
    backend,
    router: fixedRouter("chat", "chat-model"),
    maxInputChars: MAX_INPUT_CHARS,
    tools: [getWeather],
    providers: [
      testProvider("profile", "Ada likes trains.", { placement: "stable", delayMs: 15 }),
      testProvider("memory", "No notes.", { delayMs: 30, ttlMs: 0 }),
      testProvider("calendar", "Free.", { delayMs: 2_000, timeoutMs: 100 }),
    ],
  });
  let server: Server;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    await buildExample("web");
    server = createApp(pipeline, { heartbeatMs: 50 }).listen(0, "127.0.0.1");
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

  describe.each(VIEWPORTS)("at $width px", ({ name, width, height }) => {
    let context: BrowserContext;
    let page: Page;
    /** The AG-UI inputs the page posted, in order. */
    let posted: Array<{ messages: Array<{ role: string; content?: string; toolCallId?: string }> }>;
    let pageErrors: string[];

    beforeEach(async () => {
      context = await browser.newContext({ viewport: { width, height } });
      page = await context.newPage();
      posted = [];
      pageErrors = [];
      page.on("pageerror", (error) => pageErrors.push(String(error)));
      page.on("request", (request) => {
        if (request.method() === "POST" && request.url().endsWith("/api/agent")) posted.push(request.postDataJSON());
      });
      await page.goto(base);
      await page.waitForSelector("#message");
    });
    afterEach(async () => {
      await context?.close();
      expect(pageErrors).toEqual([]);
    });

    const send = async (text: string) => {
      await page.fill("#message", text);
      await reachable(page.locator("#send"));
      await page.click("#send");
    };
    const lastAnswer = () => page.locator(".msg.assistant:not(.working)").last();
    const noHorizontalOverflow = async () => {
      // (a string: the root tsconfig has no DOM types)
      const sizes = await page.evaluate<{ page: number; viewport: number; log: number; logBox: number }>(`({
        page: document.scrollingElement.scrollWidth,
        viewport: innerWidth,
        log: document.getElementById("log").scrollWidth,
        logBox: document.getElementById("log").clientWidth,
      })`);
      expect(sizes.page).toBeLessThanOrEqual(sizes.viewport);
      expect(sizes.log).toBeLessThanOrEqual(sizes.logBox);
    };
    /** In the viewport, and nothing covers it: Playwright's click checks run without clicking. */
    const reachable = async (locator: Locator) => {
      await locator.scrollIntoViewIfNeeded();
      await locator.click({ trial: true, timeout: 5_000 });
      const box = (await locator.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(width);
      expect(box.y + box.height).toBeLessThanOrEqual(height);
    };
    /**
     * From now on, watch the stage pill: the returned function tells how many user messages the
     * conversation showed at the moment the pill first read `stage` (a MutationObserver, so the
     * moment itself, not a later poll).
     */
    const userMessagesWhenStage = async (stage: string) => {
      await page.evaluate(`(() => {
        const pill = document.getElementById("stage");
        window.__userMessagesWhenStage = undefined;
        new MutationObserver((_, observer) => {
          if (pill.textContent !== ${JSON.stringify(stage)}) return;
          window.__userMessagesWhenStage = document.querySelectorAll(".msg.user").length;
          observer.disconnect();
        }).observe(pill, { childList: true, characterData: true, subtree: true });
      })()`);
      return () => page.evaluate<number | undefined>("window.__userMessagesWhenStage");
    };
    /** Roles of a posted conversation, without the UI-only messages (activity, reasoning). */
    const roles = (input: (typeof posted)[number]) =>
      input.messages.map((m) => m.role).filter((r) => r === "user" || r === "assistant" || r === "tool");
    const noTwoUsersInARow = (list: string[]) => list.every((role, i) => !(role === "user" && list[i - 1] === "user"));

    it("streams a markdown answer with a server tool call, and the run panel shows route, providers, tools and timings", async () => {
      await send("What's the weather in Porto? And how do I fetch it in TypeScript?");
      await expect.poll(() => page.locator("#stage").textContent(), { timeout: 10_000 }).toBe("done");

      // markdown, rendered
      const answer = lastAnswer();
      await expect.poll(() => answer.locator(".md pre code").count()).toBe(1);
      expect(await answer.locator(".md pre code").textContent()).toContain('fetch("/api/weather?city=Porto")');
      expect(await answer.locator(".md h2").textContent()).toBe("Porto today");
      expect(await answer.locator(".md strong").textContent()).toBe("24 °C and sunny");
      expect(await answer.locator(".md li").count()).toBe(2);
      expect(await answer.textContent()).not.toContain("```");
      // the server tool's call, in the conversation, readable on demand
      expect(await page.locator("#log .tool-use .tool-name").textContent()).toBe("get_weather");
      expect(await page.locator("#log .tool-use .tool-status").textContent()).toBe("done");

      if (name === "phone") {
        // The panel is folded into a bar above the chat; it opens in place, never over the composer.
        expect(await page.locator("#run").getAttribute("open")).toBeNull();
        expect(await page.locator("#run-brief").textContent()).toMatch(/^done · chat · chat-model · first token [\d.]+ m?s$/);
        await reachable(page.locator("#run summary"));
        await page.click("#run summary");
      }
      expect(await page.locator("#route").textContent()).toBe("chat");
      expect(await page.locator("#model").textContent()).toBe("chat-model");
      expect(await page.locator("#reason").textContent()).toBe("fixed: chat");
      for (const [provider, status] of [
        ["profile", "ok"],
        ["memory", "ok"],
        ["calendar", "timeout"],
      ]) {
        const row = page.locator(`#providers li[data-name="${provider}"]`);
        expect(await row.getAttribute("data-status")).toBe(status);
        expect(await row.locator(".ms").textContent()).toMatch(/^[\d.]+ m?s$/);
      }
      const tool = page.locator('#tools li[data-tool="get_weather"]');
      expect(await tool.locator(".args").textContent()).toBe("cityPorto");
      expect(JSON.parse((await tool.locator(".result pre").textContent())!)).toEqual({ city: "Porto", tempC: 24, sky: "sunny" });
      expect(await page.locator("#ttft").textContent()).toMatch(/^[\d.]+ m?s$/);
      expect(await page.locator("#tps").textContent()).toMatch(/^[\d.]+$/);
      expect(await page.locator("#total").textContent()).toMatch(/^[\d.]+ m?s$/);
      expect(await page.locator("#stages li").count()).toBe(5);
      await noHorizontalOverflow();
      await reachable(page.locator("#send"));
      await reachable(page.locator("#message"));
      if (name === "phone") await page.click("#run summary"); // fold it again for the picture
      await saveScreenshot(page, `web-ui-${width}`);
    });

    it("keeps one very long word inside the chat: no horizontal overflow", async () => {
      await send(`Say a long word back: ${USER_LONG_WORD}`);
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("a normal ending");
      await noHorizontalOverflow();
      await reachable(page.locator("#send"));
    });

    it("sanitises the model's HTML: no script runs, no event handler, no javascript: link", async () => {
      await send("show me some html");
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("inline code");
      const answer = lastAnswer();
      expect(await answer.locator("script, img, [onerror], [onmouseover]").count()).toBe(0);
      expect(await answer.locator(".md code").first().textContent()).toBe("inline code");
      const href = await answer
        .locator("#bad-link, a")
        .first()
        .getAttribute("href")
        .catch(() => null);
      expect(href ?? "").not.toMatch(/^javascript:/i);
      if ((await answer.locator("a").count()) > 0) await answer.locator("a").first().click();
      await answer.locator("text=hover me").hover();
      expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");
    });

    it("shows that Zoe is working before the first token", async () => {
      await send("please wait a moment");
      const working = page.locator(".msg.working");
      await working.waitFor({ state: "visible", timeout: 5_000 });
      expect(await working.locator(".working-label").textContent()).toMatch(/Choosing a route|Gathering context|Thinking/);
      await reachable(page.locator("#stop"));
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("Thanks for waiting.");
      expect(await working.count()).toBe(0);
    });

    it("Stop keeps the partial answer, the server cancels the model, and the next request has no two user messages in a row", async () => {
      const cancelled = backend.cancelled;
      await send("tell me a long story");
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("Once upon a time");
      await reachable(page.locator("#stop"));
      await page.click("#stop");
      await expect.poll(() => page.locator("#stage").textContent()).toBe("stopped");
      await expect.poll(() => backend.cancelled, { timeout: 5_000 }).toBe(cancelled + 1);
      const partial = (await lastAnswer().locator(".md").textContent())!;
      expect(partial).toContain("Once upon a time");
      expect(await lastAnswer().locator(".tag").textContent()).toBe("Stopped");

      await send("tell me about trains");
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("lovely way to travel");
      const next = posted.at(-1)!;
      expect(roles(next)).toEqual(["user", "assistant", "user"]);
      expect(noTwoUsersInARow(roles(next))).toBe(true);
      // the partial answer, as it was shown
      expect(next.messages.find((m) => m.role === "assistant")?.content?.trim()).toBe(partial.trim());
      // what the model saw: the partial answer between the two user turns
      const seen = backend.requests
        .at(-1)!
        .messages.filter((m) => m.role !== "system")
        .map((m) => m.role);
      expect(seen).toEqual(["user", "assistant", "user"]);
    });

    it("Stop before the first token takes the unanswered message back into the composer", async () => {
      const whenStopped = await userMessagesWhenStage("stopped");
      await send("please wait for me");
      await page.locator(".msg.working").waitFor({ state: "visible", timeout: 5_000 });
      await page.click("#stop");
      await expect.poll(() => page.locator("#stage").textContent()).toBe("stopped");
      expect(await page.inputValue("#message")).toBe("please wait for me");
      // taken back before the stage says so, not a frame later
      expect(await whenStopped()).toBe(0);
      expect(await page.locator(".msg.user").count()).toBe(0);
      await page.click("#send");
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("Thanks for waiting.");
      expect(roles(posted.at(-1)!)).toEqual(["user"]);
    });

    it("a rejected message (413, too long) is shown as not sent, given back, and never re-sent", async () => {
      const tooLong = `${"x".repeat(MAX_INPUT_CHARS)} too long`;
      const whenRejected = await userMessagesWhenStage("rejected");
      await send(tooLong);
      await expect.poll(() => page.locator("#stage").textContent(), { timeout: 10_000 }).toBe("rejected");
      expect(await page.locator("#notice").textContent()).toContain("MESSAGE_TOO_LONG");
      expect(await page.inputValue("#message")).toBe(tooLong);
      expect(await whenRejected()).toBe(0);
      expect(await page.locator(".msg.user").count()).toBe(0);
      await noHorizontalOverflow();

      await send("tell me about trains");
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("lovely way to travel");
      expect(await page.locator("#notice").isVisible()).toBe(false);
      const next = posted.at(-1)!;
      expect(next.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual(["tell me about trains"]);
      expect(JSON.stringify(next)).not.toContain("too long");
    });

    it("a run that fails on the server (RUN_ERROR) shows its code; the unanswered message is given back, not re-sent", async () => {
      const whenFailed = await userMessagesWhenStage("error");
      await send("this one will fail");
      await expect.poll(() => page.locator("#stage").textContent(), { timeout: 10_000 }).toBe("error");
      expect(await page.locator("#notice").textContent()).toContain("MODEL_ERROR");
      expect(await page.inputValue("#message")).toBe("this one will fail");
      expect(await whenFailed()).toBe(0);
      expect(await page.locator(".msg.user").count()).toBe(0);
      await send("tell me about trains");
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("lovely way to travel");
      expect(roles(posted.at(-1)!)).toEqual(["user"]);
    });

    it("offer_choices: options are buttons, a click sends the choice back as the tool result and the conversation continues", async () => {
      await send("help me choose a city for the weekend");
      const buttons = page.locator(".choices button");
      await expect.poll(() => buttons.count(), { timeout: 10_000 }).toBe(2);
      expect(await buttons.allTextContents()).toEqual(["Porto", "Lisbon"]);
      expect(await page.locator(".choices-question").textContent()).toBe("Where to?");
      await expect.poll(() => page.locator("#stage").textContent()).toBe("done");
      expect(await page.locator('#tools li[data-tool="offer_choices"] .badge').textContent()).toBe("waiting for you");
      await reachable(buttons.filter({ hasText: "Porto" }));
      await buttons.filter({ hasText: "Porto" }).click();
      await expect.poll(() => lastAnswer().textContent(), { timeout: 10_000 }).toContain("You picked Porto");
      // the pick, shown as the user's turn; the buttons stay, answered
      expect(await page.locator(".msg.choice-made").textContent()).toBe("Porto");
      expect(await buttons.filter({ hasText: "Porto" }).getAttribute("aria-pressed")).toBe("true");
      expect(await buttons.filter({ hasText: "Lisbon" }).isDisabled()).toBe(true);
      // the choice went back as the result of the model's call
      const input = posted.at(-1)!;
      expect(input.messages.at(-1)).toMatchObject({ role: "tool", toolCallId: "call-choose-1", content: "Porto" });
      const seen = backend.requests.at(-1)!.messages;
      expect(seen.at(-1)).toMatchObject({ role: "tool", content: "Porto", tool_call_id: "call-choose-1" });
      expect(seen.at(-2)?.tool_calls?.[0]?.function.name).toBe("offer_choices");
      await noHorizontalOverflow();
    });
  });
});

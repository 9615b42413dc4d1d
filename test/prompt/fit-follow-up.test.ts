import { describe, expect, it } from "vitest";
import type { ChatMessage } from "../../src/models/types.js";
import { fitFollowUp, memoCounter } from "../../src/prompt/fit-follow-up.js";
import { estimateTokens, MESSAGE_OVERHEAD_TOKENS } from "../../src/prompt/token-count.js";

const cost = (m: ChatMessage) =>
  estimateTokens(m.content) + MESSAGE_OVERHEAD_TOKENS + (m.tool_calls ? estimateTokens(JSON.stringify(m.tool_calls)) : 0);
const total = (ms: readonly ChatMessage[]) => ms.reduce((sum, m) => sum + cost(m), 0);

const call = (id: string): ChatMessage => ({
  role: "assistant",
  content: "",
  tool_calls: [{ id, function: { name: "fetch", arguments: { id } } }],
});
const result = (id: string, content: string): ChatMessage => ({ role: "tool", content, tool_call_id: id, tool_name: "fetch" });

/** system, four past messages (a call and its result among them), the question, then the run's call and results. */
function conversation(results: string[]): { messages: ChatMessage[]; layout: { history: readonly [number, number]; resultsFrom: number } } {
  const messages: ChatMessage[] = [
    { role: "system", content: "You are a test." },
    { role: "user", content: "an earlier question ".repeat(20) },
    call("old"),
    result("old", "an earlier result ".repeat(20)),
    { role: "assistant", content: "an earlier answer ".repeat(20) },
    { role: "user", content: "What does the page say about pricing?" },
  ];
  const resultsFrom = messages.length;
  messages.push({
    role: "assistant",
    content: "",
    tool_calls: results.map((_, i) => ({ id: `c${i}`, function: { name: "fetch", arguments: { i } } })),
  });
  results.forEach((text, i) => messages.push(result(`c${i}`, text)));
  return { messages, layout: { history: [1, 5], resultsFrom } };
}

describe("fitFollowUp: a call after a tool step fits promptTokens", () => {
  it("changes nothing when the messages fit (the model server reuses the first request as its prefix)", () => {
    const { messages, layout } = conversation(["short result"]);
    const fitted = fitFollowUp(messages, layout, 10_000, estimateTokens);
    expect(fitted.messages).toEqual(messages);
    expect(fitted).toMatchObject({ droppedHistory: 0, cutResults: 0, historyEnd: 5 });
  });

  it("cuts a long result, keeps the question, the history and the call, and says how much of the result is shown", () => {
    const page = "lorem ipsum dolor sit amet ".repeat(1_500); // 40,500 characters
    const { messages, layout } = conversation([page]);
    const fitted = fitFollowUp(messages, layout, 3_072, estimateTokens);
    expect(total(fitted.messages)).toBeLessThanOrEqual(3_072);
    expect(fitted.messages.slice(0, 7)).toEqual(messages.slice(0, 7));
    expect(fitted).toMatchObject({ droppedHistory: 0, cutResults: 1 });
    const cut = fitted.messages[7] as ChatMessage;
    expect(cut).toMatchObject({ role: "tool", tool_call_id: "c0" });
    const kept = Number(/\n… \[cut: the result had 40500 characters; the first (\d+) are shown\]$/.exec(cut.content)?.[1]);
    expect(kept).toBeGreaterThan(5_000);
    expect(cut.content.startsWith(page.slice(0, kept))).toBe(true);
    expect(messages[7]?.content).toBe(page); // the caller's messages are not changed
  });

  it("cuts the longest results first: a short one stays whole", () => {
    const { messages, layout } = conversation(["a".repeat(30_000), "the short one", "b".repeat(20_000)]);
    const fitted = fitFollowUp(messages, layout, 3_072, estimateTokens);
    expect(total(fitted.messages)).toBeLessThanOrEqual(3_072);
    expect(fitted.messages[8]?.content).toBe("the short one");
    expect(fitted.cutResults).toBe(2);
    // Both long ones were cut to about the same size (a few characters apart, by rounding).
    expect(Math.abs((fitted.messages[7]?.content.length ?? 0) - (fitted.messages[9]?.content.length ?? 0))).toBeLessThan(8);
  });

  it("drops the history, oldest first and never starting on a tool result, once the results are down to a quarter of the budget", () => {
    const { messages, layout } = conversation(["r".repeat(40_000)]);
    messages[4] = { role: "assistant", content: "a long earlier answer ".repeat(400) };
    const fitted = fitFollowUp(messages, layout, 2_000, estimateTokens);
    expect(total(fitted.messages)).toBeLessThanOrEqual(2_000);
    expect(fitted.droppedHistory).toBeGreaterThan(0);
    const kept = fitted.messages.slice(1, fitted.historyEnd);
    expect(kept[0]?.role).not.toBe("tool");
    expect(fitted.messages[0]).toEqual(messages[0]);
    expect(fitted.messages[fitted.historyEnd]).toEqual(messages[5]); // the question
    // The result kept its quarter of the budget.
    expect(estimateTokens(fitted.messages.at(-1)?.content ?? "")).toBeGreaterThanOrEqual(400);
  });

  it("cuts the results to what is left when even without history they do not fit", () => {
    const { messages, layout } = conversation(["r".repeat(40_000)]);
    messages[0] = { role: "system", content: "a long system prompt ".repeat(300) };
    const fitted = fitFollowUp(messages, layout, 2_000, estimateTokens);
    expect(fitted.droppedHistory).toBe(4);
    expect(total(fitted.messages)).toBeLessThanOrEqual(2_000);
    expect(fitted.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool"]);
  });

  it("never cuts a surrogate pair in half", () => {
    const { messages, layout } = conversation(["😀".repeat(20_000)]);
    const fitted = fitFollowUp(messages, layout, 3_072, estimateTokens);
    const content = fitted.messages.at(-1)?.content ?? "";
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(content)).toBe(false);
    expect(fitted.cutResults).toBe(1);
  });

  it("cuts a result twice from its whole text: the note gives the result's own length, once", () => {
    const { messages, layout } = conversation(["r".repeat(40_000)]);
    messages[0] = { role: "system", content: "a long system prompt ".repeat(300) };
    const fitted = fitFollowUp(messages, layout, 2_000, estimateTokens);
    const notes = [...(fitted.messages.at(-1)?.content ?? "").matchAll(/\[cut: the result had (\d+) characters/g)];
    expect(notes.map((n) => n[1])).toEqual(["40000"]);
  });

  it("never replaces a result by something as long: a short one stays whole, a longer one may become its note alone", () => {
    const { messages, layout } = conversation(["s".repeat(30), "l".repeat(300)]);
    const fitted = fitFollowUp(messages, layout, 150, estimateTokens);
    const [short, long] = fitted.messages.slice(-2);
    expect(short?.content).toBe("s".repeat(30));
    expect(long?.content).toBe("\n… [cut: the result had 300 characters; the first 0 are shown]");
    expect(fitted.cutResults).toBe(1);
  });

  it("counts each text once over a run's tool steps with a memoised counter (a tokenizer is synchronous work)", () => {
    let counted = 0;
    const count = memoCounter((text) => {
      counted += text.length;
      return estimateTokens(text);
    });
    const page = "lorem ipsum dolor sit amet ".repeat(3_700);
    const messages: ChatMessage[] = [
      { role: "system", content: "You are a test." },
      { role: "user", content: "Compare the pages." },
    ];
    for (let step = 0; step < 8; step++) {
      messages.push({
        role: "assistant",
        content: "",
        tool_calls: Array.from({ length: 32 }, (_, i) => ({ id: `s${step}c${i}`, function: { name: "f", arguments: {} } })),
      });
      for (let i = 0; i < 32; i++) messages.push({ role: "tool", content: `${step}.${i} ${page}`, tool_call_id: `s${step}c${i}` });
      fitFollowUp(messages, { history: [1, 1], resultsFrom: 2 }, 3_072, count);
    }
    // Each result once, plus the cuts' few counts of short candidates: not a count per step.
    expect(counted / (8 * 32 * page.length)).toBeLessThan(2);
  });
});

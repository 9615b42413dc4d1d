import { describe, expect, it } from "vitest";
import { EventType, type AGUIEvent } from "@ag-ui/core";
import { createZoePipeline } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";

const ofType = <T extends EventType>(events: AGUIEvent[], type: T) =>
  events.filter((e): e is Extract<AGUIEvent, { type: T }> => e.type === type);

describe("events a rich UI needs", () => {
  it("a run that starts from stored history sends the conversation as MESSAGES_SNAPSHOT", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    const first = await runValid(pipeline.run({ userId: "u", threadId: "t", message: "first question" }));
    expect(ofType(first, EventType.MESSAGES_SNAPSHOT)).toHaveLength(0); // nothing stored yet
    const second = await runValid(pipeline.run({ userId: "u", threadId: "t", message: "second question" }));
    const [snapshot] = ofType(second, EventType.MESSAGES_SNAPSHOT);
    expect(snapshot?.messages.map((m) => [m.role, m.content])).toEqual([
      ["user", "first question"],
      ["assistant", "Hello from the scripted model."],
      ["user", "second question"],
    ]);
    // Another device (another run) sees the same stored conversation.
    const stored = await pipeline.history.get("u", "t");
    expect(snapshot?.messages.slice(0, 2).map((m) => m.id)).toEqual(stored.slice(0, 2).map((e) => e.id));
    await pipeline.close();
  });

  it("provider names with / and ~ are escaped in state paths (RFC 6901), so the patches apply", async () => {
    const names = ["docs/faq", "a~b", "plain"];
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: names.map((name) => testProvider(name, `${name} text`)),
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "hello" }));
    const paths = ofType(events, EventType.STATE_DELTA).flatMap((d) => d.delta.map((op: { path: string }) => op.path));
    expect(paths).toEqual(expect.arrayContaining(["/zoe/providers/docs~1faq", "/zoe/providers/a~0b", "/zoe/providers/plain"]));
    await pipeline.close();
  });

  it("a run whose client sent the conversation (AG-UI messages) sends no snapshot", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    await runValid(pipeline.run({ userId: "u", threadId: "t", message: "first" }));
    const events = await runValid(
      pipeline.run({
        threadId: "t",
        runId: "r2",
        userId: "u",
        messages: [
          { id: "a", role: "user", content: "first" },
          { id: "b", role: "assistant", content: "Hello from the scripted model." },
          { id: "c", role: "user", content: "second" },
        ],
        tools: [],
        context: [],
        state: {},
        forwardedProps: {},
      }),
    );
    expect(ofType(events, EventType.MESSAGES_SNAPSHOT)).toHaveLength(0);
    await pipeline.close();
  });

  it("providers being fetched are an activity: a snapshot with each pending, then a delta as each lands", async () => {
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: [
        testProvider("slow", "s", { delayMs: 20 }),
        testProvider("fast", "f"),
        testProvider("late", "l", { delayMs: 5_000, timeoutMs: 30 }),
      ],
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    const [snapshot] = ofType(events, EventType.ACTIVITY_SNAPSHOT);
    expect(snapshot).toMatchObject({
      activityType: "zoe.context",
      content: { providers: { slow: { status: "pending" }, fast: { status: "pending" }, late: { status: "pending" } } },
    });
    const deltas = ofType(events, EventType.ACTIVITY_DELTA);
    expect(deltas.map((d) => d.patch[0]?.path)).toEqual(["/providers/fast", "/providers/slow", "/providers/late"]);
    expect(deltas.at(-1)?.patch[0]).toMatchObject({ op: "replace", value: { status: "timeout" } });
    expect(new Set(deltas.map((d) => d.messageId))).toEqual(new Set([snapshot?.messageId]));
    // A second run answers from the cache: no work, no activity.
    const again = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    expect(ofType(again, EventType.ACTIVITY_DELTA).map((d) => d.patch[0]?.path)).toEqual(["/providers/late"]);
    await pipeline.close();
  });

  it("outcomes that land together are one state delta and one activity delta; the last group's state goes with the stage's", async () => {
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: [testProvider("a", "A"), testProvider("b", "B"), testProvider("slow", "S", { delayMs: 20 })],
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    const from = events.findIndex((e) => e.type === EventType.STEP_STARTED && e.stepName === "context");
    const to = events.findIndex((e) => e.type === EventType.STEP_FINISHED && e.stepName === "context");
    const step = events.slice(from + 1, to);
    const paths = (e: (typeof events)[number]) =>
      e.type === EventType.STATE_DELTA
        ? e.delta.map((op) => op.path)
        : e.type === EventType.ACTIVITY_DELTA
          ? e.patch.map((op) => op.path)
          : [];
    expect(step.filter((e) => e.type !== EventType.ACTIVITY_SNAPSHOT).map((e) => [e.type, ...paths(e)])).toEqual([
      [EventType.STATE_DELTA, "/zoe/providers/a", "/zoe/providers/b"],
      [EventType.ACTIVITY_DELTA, "/providers/a", "/providers/b"],
      [EventType.ACTIVITY_DELTA, "/providers/slow"],
      [EventType.STATE_DELTA, "/zoe/providers/slow", "/zoe/stage"],
    ]);
    await pipeline.close();
  });
});

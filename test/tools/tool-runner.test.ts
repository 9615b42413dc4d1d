import { describe, expect, it } from "vitest";
import type { ServerTool, ToolContext } from "../../src/index.js";
import v8 from "node:v8";
import { runToolCalls, ToolRunner, type ToolRoute } from "../../src/tools/tool-runner.js";

const context = { userId: "u", threadId: "t" };
const call = (name: string) => ({ id: `call-${name}`, name, arguments: "{}" });
const server = (tool: ServerTool): ToolRoute => ({ where: "server", spec: { name: tool.name }, tool });

/** A promise with its resolve function. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

describe("ToolRunner", () => {
  it("a tool that misses its deadline gives an error result and its signal aborts with a TimeoutError", async () => {
    const runner = new ToolRunner(2, 10_000);
    let seen: ToolContext["signal"] | undefined;
    const never = gate();
    const tool: ServerTool = {
      name: "slow",
      timeoutMs: 20,
      execute: (_args, { signal }) => {
        seen = signal;
        return never.promise;
      },
    };
    const run = new AbortController();
    expect(await runner.run(call("slow"), server(tool), context, run.signal)).toEqual({
      ok: false,
      content: "Error: the tool took longer than its 20 ms deadline",
    });
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toMatchObject({ name: "TimeoutError", message: "the tool took longer than its 20 ms deadline" });
    expect(run.signal.aborted).toBe(false);
    never.open();
  });

  it("a call's deadline counts its wait for a slot: another run's hung calls cannot hold it past its deadline", async () => {
    const runner = new ToolRunner(1, 60_000);
    const held = gate();
    let quickRan = false;
    const hog: ServerTool = { name: "hog", execute: () => held.promise };
    const quick: ServerTool = {
      name: "quick",
      timeoutMs: 30,
      execute: () => {
        quickRan = true;
        return "fast";
      },
    };
    const other = new AbortController();
    const hogging = runner.run(call("hog"), server(hog), context, other.signal);
    expect(await runner.run(call("quick"), server(quick), context, new AbortController().signal)).toEqual({
      ok: false,
      content: "Error: the tool waited for a free slot (toolConcurrency) longer than its 30 ms deadline",
    });
    held.open();
    expect(await hogging).toEqual({ ok: true, content: "" });
    await new Promise((resolve) => setImmediate(resolve));
    expect(quickRan).toBe(false); // the call that gave up never runs when a slot frees
    // The runner serves the next call.
    expect(await runner.run(call("quick"), server({ ...quick, timeoutMs: 60_000 }), context, new AbortController().signal)).toEqual({
      ok: true,
      content: "fast",
    });
    expect(quickRan).toBe(true);
  });

  it("a run cancelled while its call waits for a slot stops waiting at once", async () => {
    const runner = new ToolRunner(1, 60_000);
    const held = gate();
    let ran = false;
    const hogging = runner.run(call("hog"), server({ name: "hog", execute: () => held.promise }), context, new AbortController().signal);
    const run = new AbortController();
    const waiting = runner.run(call("late"), server({ name: "late", execute: () => void (ran = true) }), context, run.signal);
    const reason = new Error("cancelled");
    run.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    held.open();
    await hogging;
    await runner.run(call("after"), server({ name: "after", execute: () => "ok" }), context, new AbortController().signal);
    expect(ran).toBe(false);
  });

  it("the pipeline's toolTimeoutMs applies when the tool has none; a tool in time gives its value as text", async () => {
    const runner = new ToolRunner(1, 20);
    const never = gate();
    const slow: ServerTool = { name: "slow", execute: () => never.promise };
    const quick: ServerTool = { name: "quick", execute: async () => ({ answer: 42 }) };
    const signal = new AbortController().signal;
    expect(await runner.run(call("slow"), server(slow), context, signal)).toEqual({
      ok: false,
      content: "Error: the tool took longer than its 20 ms deadline",
    });
    expect(await runner.run(call("quick"), server(quick), context, signal)).toEqual({ ok: true, content: '{"answer":42}' });
    never.open();
  });

  it("an Infinity deadline is none: the tool's own time decides", async () => {
    const runner = new ToolRunner(1, Number.POSITIVE_INFINITY);
    const later = gate<string>();
    const tool: ServerTool = { name: "later", execute: () => later.promise };
    const result = runner.run(call("later"), server(tool), context, new AbortController().signal);
    setTimeout(() => later.open("done"), 30);
    expect(await result).toEqual({ ok: true, content: "done" });
  });

  it("a deadline that is not a positive number is an error result, and the tool is not run", async () => {
    for (const timeoutMs of [0, -1, Number.NaN]) {
      let runs = 0;
      const tool: ServerTool = { name: "t", timeoutMs, execute: () => ++runs };
      const result = await new ToolRunner(1, 10_000).run(call("t"), server(tool), context, new AbortController().signal);
      expect(result.ok).toBe(false);
      expect(result.content).toMatch(/^Error: the tool's deadline must be a positive number of ms/);
      expect(runs).toBe(0);
    }
  });

  it("a tool that throws or rejects gives an error result", async () => {
    const runner = new ToolRunner(1, 10_000);
    const signal = new AbortController().signal;
    const throws: ServerTool = {
      name: "throws",
      execute: () => {
        throw new Error("database offline");
      },
    };
    const rejects: ServerTool = { name: "rejects", execute: () => Promise.reject(new Error("no route")) };
    expect(await runner.run(call("throws"), server(throws), context, signal)).toEqual({ ok: false, content: "Error: database offline" });
    expect(await runner.run(call("rejects"), server(rejects), context, signal)).toEqual({ ok: false, content: "Error: no route" });
  });

  it("cancelling the run rejects with its reason at once, even while a tool ignores its signal; the tool is told", async () => {
    const runner = new ToolRunner(1, 60_000);
    const started = gate();
    const never = gate();
    let toolSignal: AbortSignal | undefined;
    const stubborn: ServerTool = {
      name: "stubborn",
      execute: (_args, { signal }) => {
        toolSignal = signal;
        started.open();
        return never.promise; // ignores its signal
      },
    };
    const run = new AbortController();
    const reason = new DOMException("cancelled", "AbortError");
    const result = runner.run(call("stubborn"), server(stubborn), context, run.signal);
    await started.promise;
    run.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(toolSignal?.aborted).toBe(true);
    expect(toolSignal?.reason).toBe(reason);
    // The slot is free again: the next call runs while the stubborn tool is still pending.
    const quick: ServerTool = { name: "quick", execute: () => "ok" };
    expect(await runner.run(call("quick"), server(quick), context, new AbortController().signal)).toEqual({ ok: true, content: "ok" });
    never.open();
  });

  it("a run already cancelled does not start the tool", async () => {
    let runs = 0;
    const tool: ServerTool = { name: "t", execute: () => ++runs };
    const reason = new Error("gone");
    await expect(new ToolRunner(1, 10_000).run(call("t"), server(tool), context, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(runs).toBe(0);
  });

  it("runs a catalogue tool through its provider, under the same deadline", async () => {
    const calls: string[] = [];
    const never = gate();
    const route: ToolRoute = {
      where: "catalogue",
      spec: { name: "remote" },
      provider: {
        name: "mcp",
        provides: "tools",
        fetch: () => [],
        callTool: async (name) => {
          calls.push(name);
          if (name === "hang") await never.promise;
          return `called ${name}`;
        },
      },
    };
    const runner = new ToolRunner(2, 20);
    const signal = new AbortController().signal;
    expect(await runner.run(call("remote"), route, context, signal)).toEqual({ ok: true, content: "called remote" });
    expect(await runner.run(call("hang"), route, context, signal)).toEqual({
      ok: false,
      content: "Error: the tool took longer than its 20 ms deadline",
    });
    expect(calls).toEqual(["remote", "hang"]);
    never.open();
  });

  it("the calls of one step cost a bounded number of promise reactions each, however many there are (not one race of every pending call per result)", async () => {
    const echo: ServerTool = { name: "echo", execute: () => "x" };
    const registry = new Map([["echo", server(echo)]]);
    const reactions = async (n: number) => {
      const runner = new ToolRunner(n, 10_000, undefined, n);
      const calls = Array.from({ length: n }, (_, i) => ({ id: `c${i}`, name: "echo", arguments: "{}" }));
      let count = 0;
      const stop = v8.promiseHooks.onBefore(() => count++);
      try {
        const { messages } = await runToolCalls(runner, calls, registry, context, new AbortController().signal, () => {});
        expect(messages).toHaveLength(n);
      } finally {
        stop();
      }
      return count;
    };
    await reactions(50); // warm
    const small = await reactions(200);
    const large = await reactions(800);
    // Linear: four times the calls, about four times the reactions (a race per result: sixteen).
    expect(large / small).toBeLessThan(6);
  });

  it("a run cancelled at any microtask before its tool starts never starts it", async () => {
    for (let ticks = 0; ticks < 12; ticks++) {
      let started = 0;
      let startedAborted = false;
      const tool: ServerTool = {
        name: "t",
        execute: (_args, { signal }) => {
          started++;
          if (signal.aborted) startedAborted = true;
          return "ok";
        },
      };
      const run = new AbortController();
      const result = new ToolRunner(1, 10_000).run(call("t"), server(tool), context, run.signal).catch((e: unknown) => e);
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      run.abort(new Error("cancelled"));
      const outcome = await result;
      // Either the tool ran before the abort (and answered), or the run's abort came first and it never started.
      expect(startedAborted, `aborted after ${ticks} microtasks`).toBe(false);
      if (started === 0) expect(outcome).toMatchObject({ message: "cancelled" });
    }
  });
});

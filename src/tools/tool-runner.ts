import type { AGUIEvent } from "@ag-ui/core";
import pLimit, { type LimitFunction } from "p-limit";
import { events } from "../events/factory.js";
import { TIMED_OUT, withDeadline } from "../shared/deadline.js";
import { onAbort } from "../shared/on-abort.js";
import type { ChatMessage } from "../models/types.js";
import { parseToolArguments } from "./tool-args.js";
import { sliceWhole } from "../shared/unicode.js";
import type { ServerTool, ToolCatalogueProvider, ToolContext, ToolSpec } from "./types.js";
import { CANCELLED, NO_TRACE, type RunTrace, type SpanHandle } from "../telemetry/trace.js";
import { errorMessage } from "../errors/error-message.js";

/** A tool call the model made. */
export interface ToolCallRecord {
  id: string;
  name: string;
  /** Arguments as JSON text. */
  arguments: string;
}

/** Where each tool name is handled, with the definition the model sees. */
export type ToolRoute = { spec: ToolSpec } & (
  | { where: "server"; tool: ServerTool }
  | { where: "catalogue"; provider: ToolCatalogueProvider }
  | { where: "frontend" }
);

/** The tools of one run, by name. */
export type ToolRegistry = ReadonlyMap<string, ToolRoute>;

/** A tool's result as text for the model and the client: JSON; empty for what JSON leaves out (a function, a symbol). */
function asText(value: unknown): string {
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? "";
}

/** The default of `maxToolResultChars`: far more than a model reads, far less than a client's SSE buffer (10 MB in `@ag-ui/client`). */
export const MAX_TOOL_RESULT_CHARS = 100_000;

/**
 * A tool's or a code block's result (or another text: `what`) cut to `max` characters, saying so
 * (the model and the client see where it was cut); never between the halves of a surrogate pair.
 */
export function capped(content: string, max: number, what = "result"): string {
  if (content.length <= max) return content;
  const kept = sliceWhole(content, max);
  return `${kept}\n… [cut: the ${what} had ${content.length} characters; the first ${kept.length} are shown]`;
}

/** The default of `maxToolCallsPerStep`: far more than a model asks for at once, few enough that a runaway answer costs little. */
export const MAX_TOOL_CALLS_PER_STEP = 32;

/** Runs server-side tool calls with a deadline each and a shared concurrency limit. */
export class ToolRunner {
  readonly #limit: LimitFunction;

  constructor(
    concurrency: number,
    private readonly defaultTimeoutMs: number,
    /** `maxToolResultChars`: longer results are cut ({@link capped}), a code block's too. */
    readonly maxResultChars = MAX_TOOL_RESULT_CHARS,
    /** `maxToolCallsPerStep`: the server-side calls of one model answer that are run; the rest get an error result. */
    readonly maxCallsPerStep = MAX_TOOL_CALLS_PER_STEP,
  ) {
    this.#limit = pLimit(Math.max(1, concurrency));
  }

  /**
   * Run one call; failures and timeouts become an error text for the model, never a throw. The
   * call's deadline counts from now, its wait for a free slot (`toolConcurrency`, shared by the
   * pipeline's runs) included: calls of other runs that hang cannot hold this one past it.
   */
  async run(
    call: ToolCallRecord,
    route: ToolRoute,
    context: Omit<ToolContext, "signal">,
    signal: AbortSignal,
  ): Promise<{ ok: boolean; content: string }> {
    const timeoutMs = route.where === "server" ? (route.tool.timeoutMs ?? this.defaultTimeoutMs) : this.defaultTimeoutMs;
    const queuedAt = performance.now();
    let gaveUp = false;
    let started: () => void = () => {};
    const slot = new Promise<true>((resolve) => {
      started = () => resolve(true);
    });
    const running = this.#limit(async () => {
      // Given up while waiting (its deadline passed, or its run ended): the slot goes to the next call.
      if (gaveUp) return { ok: false, content: "" };
      started();
      return this.#execute(call, route, context, signal, timeoutMs, timeoutMs - (performance.now() - queuedAt));
    });
    if (timeoutMs > 0) {
      let waited: true | typeof TIMED_OUT;
      try {
        waited = await withDeadline(slot, timeoutMs, signal);
      } catch (error) {
        gaveUp = true;
        running.catch(() => {});
        throw error;
      }
      if (waited === TIMED_OUT) {
        gaveUp = true;
        running.catch(() => {});
        return { ok: false, content: `Error: the tool waited for a free slot (toolConcurrency) longer than its ${timeoutMs} ms deadline` };
      }
    }
    return running;
  }

  /** Run one call in its slot, under what is left of its deadline (`leftMs`). */
  async #execute(
    call: ToolCallRecord,
    route: ToolRoute,
    context: Omit<ToolContext, "signal">,
    signal: AbortSignal,
    timeoutMs: number,
    leftMs: number,
  ): Promise<{ ok: boolean; content: string }> {
    if (signal.aborted) throw signal.reason;
    const controller = new AbortController();
    const unhook = onAbort(signal, () => controller.abort(signal.reason));
    try {
      if (!(timeoutMs > 0)) throw new RangeError(`the tool's deadline must be a positive number of ms, got ${timeoutMs}`);
      const args = parseToolArguments(call.arguments);
      const toolContext: ToolContext = { ...context, signal: controller.signal };
      const work = Promise.resolve().then(() =>
        // A run cancelled since the check above (a microtask ago) starts no tool.
        controller.signal.aborted
          ? Promise.reject(controller.signal.reason)
          : route.where === "server"
            ? route.tool.execute(args, toolContext)
            : route.where === "catalogue"
              ? route.provider.callTool(call.name, args, toolContext)
              : undefined,
      );
      // The run's signal ends the wait at once (the tool is told through its own signal); an
      // Infinity deadline is none.
      const value = await withDeadline(work, Math.max(1, leftMs), signal);
      if (value === TIMED_OUT) {
        const message = `the tool took longer than its ${timeoutMs} ms deadline`;
        controller.abort(new DOMException(message, "TimeoutError"));
        return { ok: false, content: `Error: ${message}` };
      }
      return { ok: true, content: capped(asText(value), this.maxResultChars) };
    } catch (error) {
      if (signal.aborted) throw error;
      controller.abort(error);
      return { ok: false, content: capped(`Error: ${errorMessage(error)}`, this.maxResultChars) };
    } finally {
      unhook();
    }
  }
}

/** A tool call's span ended with what became of the call: failed, cancelled with its run, or done. */
function endToolSpan<T extends { ok: boolean }>(running: Promise<T>, span: SpanHandle, signal: AbortSignal): Promise<T> {
  return running.then(
    (result) => {
      // Its error text (which may quote the model's arguments) stays out of the span.
      if (!result.ok) span.fail("tool_error", "the tool failed or timed out");
      span.end();
      return result;
    },
    (error: unknown) => {
      if (signal.aborted) span.set(CANCELLED);
      else span.fail("tool_error", "the tool failed");
      span.end();
      throw error;
    },
  );
}

/**
 * Run the server-side calls of one step in parallel, sending `TOOL_CALL_RESULT` as each finishes,
 * and return the tool messages for the model's continuation (in call order). Calls past the
 * runner's `maxCallsPerStep` are not run: each gets an error result. With tracing on, each call
 * is an `execute_tool {name}` span, live from before the call runs (the tool runs with it active,
 * so the tool's own spans are its children) until it ends or its run is cancelled; a call of an
 * unknown tool is one failed with `tool_not_found`. Rejects, once, when the run is cancelled.
 */
export function runToolCalls(
  runner: ToolRunner,
  calls: readonly ToolCallRecord[],
  registry: ToolRegistry,
  context: Omit<ToolContext, "signal">,
  signal: AbortSignal,
  send: (event: AGUIEvent) => void,
  trace: RunTrace = NO_TRACE,
): Promise<{ messages: ChatMessage[]; failed: number }> {
  const results = new Map<string, string>();
  let failed = 0;
  const outcome = () => ({
    failed,
    messages: calls.map((c) => ({ role: "tool" as const, content: results.get(c.id) ?? "", tool_name: c.name, tool_call_id: c.id })),
  });
  /** A result known at once (not run): sent now. */
  const fail = (id: string, content: string) => {
    failed++;
    results.set(id, content);
    send(events.toolCallResult(id, content));
  };
  const running: Array<{ id: string; result: Promise<{ ok: boolean; content: string }> }> = [];
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i] as ToolCallRecord;
    if (i >= runner.maxCallsPerStep) {
      fail(
        call.id,
        `Error: not run: the answer made ${calls.length} tool calls, and at most ${runner.maxCallsPerStep} of one answer are run (maxToolCallsPerStep).`,
      );
      continue;
    }
    const route = registry.get(call.name);
    const span = trace.enabled
      ? trace.start(`execute_tool ${call.name}`, {
          "gen_ai.operation.name": "execute_tool",
          "gen_ai.tool.name": call.name,
          "gen_ai.tool.call.id": call.id,
        })
      : undefined;
    if (!route) {
      if (span) {
        span.fail("tool_not_found", "the model called a tool that does not exist");
        span.end();
      }
      fail(call.id, `Error: there is no tool named "${call.name}".`);
      continue;
    }
    running.push({
      id: call.id,
      result: span
        ? endToolSpan(
            trace.within(span, () => runner.run(call, route, context, signal)),
            span,
            signal,
          )
        : runner.run(call, route, context, signal),
    });
  }
  if (running.length === 0) return Promise.resolve(outcome());
  // One reaction per call, each result sent as it lands: not a race of every pending call after
  // each result, whose reactions grow with the square of the calls (thousands of calls in one
  // answer held the event loop, and with it every deadline, for minutes).
  return new Promise((resolve, reject) => {
    let left = running.length;
    let over = false;
    for (const { id, result } of running) {
      result.then(
        (done) => {
          if (over) return;
          if (!done.ok) failed++;
          results.set(id, done.content);
          send(events.toolCallResult(id, done.content));
          if (--left === 0) {
            over = true;
            resolve(outcome());
          }
        },
        (error: unknown) => {
          // Only a cancelled run rejects a call: the first rejection ends the step.
          if (over) return;
          over = true;
          reject(error);
        },
      );
    }
  });
}

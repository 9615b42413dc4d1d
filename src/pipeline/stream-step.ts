import { randomUUID } from "node:crypto";
import type { AGUIEvent } from "@ag-ui/core";
import { toZoeError } from "../errors/zoe-error.js";
import { events } from "../events/factory.js";
import type { ChatChunk, ChatDoneInfo, ChatRequest, ModelBackend } from "../models/types.js";
import { createFenceDetector } from "../tools/code-fences.js";
import type { ToolCallRecord } from "../tools/tool-runner.js";
import type { CodeExecutor } from "../tools/types.js";

/** Messages a run has open, shared with the run so that a cancelled run can close them. */
export interface OpenMessages {
  text?: string;
  reasoning?: { id: string; messageId: string };
}

/** What one model call produced. */
export interface StepResult {
  text: string;
  toolCalls: ToolCallRecord[];
  done: ChatDoneInfo;
  firstTokenAt?: number;
  textChunks: number;
  codeRuns: number;
}

/** The events that close whatever message is open. */
export function closeMessages(open: OpenMessages): AGUIEvent[] {
  const out: AGUIEvent[] = [];
  if (open.reasoning) {
    out.push(events.reasoningMessageEnd(open.reasoning.messageId), events.reasoningEnd(open.reasoning.id));
    delete open.reasoning;
  }
  if (open.text) out.push(events.textEnd(open.text));
  delete open.text;
  return out;
}

/**
 * Stream one model call as AG-UI events. With a code executor, each complete fenced block in an
 * allowed language runs at once, as a `run_code` tool call whose result is sent when it is ready,
 * while the answer keeps streaming.
 */
export async function* streamStep(
  backend: ModelBackend,
  request: ChatRequest,
  signal: AbortSignal,
  open: OpenMessages,
  executor: CodeExecutor | undefined,
): AsyncGenerator<AGUIEvent, StepResult> {
  const result: StepResult = { text: "", toolCalls: [], done: {}, textChunks: 0, codeRuns: 0 };
  const fences = executor ? createFenceDetector() : undefined;
  const userId = request.userId;
  const ready: AGUIEvent[] = [];
  const running = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => {});

  const runCode = function* (blocks: ReturnType<NonNullable<typeof fences>["push"]>): Generator<AGUIEvent> {
    for (const block of blocks) {
      if (!executor || !executor.languages.includes(block.language)) continue;
      const id = randomUUID();
      result.codeRuns++;
      yield events.toolCallStart(id, "run_code", open.text);
      yield events.toolCallArgs(id, JSON.stringify({ language: block.language, code: block.code }));
      yield events.toolCallEnd(id);
      const job: Promise<void> = executor
        .execute(block.code, { signal, language: block.language, ...(userId === undefined ? {} : { userId }) })
        .then(
          // Like a failed tool's result, a failure reads "Error: …" (then the error, e.g. "TypeError: …").
          (r) => (r.ok ? r.output : `${r.output ? `${r.output}\n` : ""}Error: ${r.error ?? "the code failed"}`),
          (error: unknown) => `Error: ${error instanceof Error ? error.message : String(error)}`,
        )
        .then((content) => {
          ready.push(events.toolCallResult(id, content));
          running.delete(job);
          wake?.();
        });
      running.add(job);
    }
  };

  const iterator = backend.chat(request, { signal })[Symbol.asyncIterator]();
  try {
    let next: Promise<IteratorResult<ChatChunk>> | undefined;
    for (;;) {
      next ??= iterator.next();
      const waits: Array<Promise<IteratorResult<ChatChunk> | "code">> = [next, aborted];
      if (running.size > 0) waits.push(new Promise<"code">((resolve) => (wake = () => resolve("code"))));
      let step: IteratorResult<ChatChunk> | "code";
      try {
        step = await Promise.race(waits);
      } catch (error) {
        if (signal.aborted) throw error;
        throw toZoeError(error, "MODEL_ERROR");
      }
      wake = undefined;
      if (ready.length) yield* ready.splice(0);
      if (step === "code") continue;
      next = undefined;
      if (step.done) break;
      const chunk = step.value;
      switch (chunk.type) {
        case "thinking":
          if (!chunk.text) break;
          result.firstTokenAt ??= performance.now();
          if (!open.reasoning) {
            open.reasoning = { id: randomUUID(), messageId: randomUUID() };
            yield events.reasoningStart(open.reasoning.id);
            yield events.reasoningMessageStart(open.reasoning.messageId);
          }
          yield events.reasoningContent(open.reasoning.messageId, chunk.text);
          break;
        case "text":
          if (!chunk.text) break;
          result.firstTokenAt ??= performance.now();
          if (open.reasoning) {
            yield events.reasoningMessageEnd(open.reasoning.messageId);
            yield events.reasoningEnd(open.reasoning.id);
            delete open.reasoning;
          }
          if (!open.text) {
            open.text = randomUUID();
            yield events.textStart(open.text);
          }
          result.text += chunk.text;
          result.textChunks++;
          yield events.textContent(open.text, chunk.text);
          if (fences) yield* runCode(fences.push(chunk.text));
          break;
        case "tool_call": {
          result.firstTokenAt ??= performance.now();
          const parent = open.text;
          yield* closeMessages(open);
          const id = chunk.call.id ?? randomUUID();
          const args = typeof chunk.call.arguments === "string" ? chunk.call.arguments : JSON.stringify(chunk.call.arguments);
          result.toolCalls.push({ id, name: chunk.call.name, arguments: args });
          yield events.toolCallStart(id, chunk.call.name, parent);
          yield events.toolCallArgs(id, args);
          yield events.toolCallEnd(id);
          break;
        }
        case "done": {
          const { type: _type, ...info } = chunk;
          result.done = info;
          break;
        }
      }
    }
    if (fences) yield* runCode(fences.end());
    // The answer is complete; wait for code still running, sending each result as it lands.
    while (running.size > 0) {
      await Promise.race([...running, aborted]);
      yield* ready.splice(0);
    }
    yield* ready.splice(0);
    return result;
  } finally {
    // Leaving early (abort, error, consumer gone) must close the backend's request now.
    void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

import type { ChatChunk, ChatDoneInfo, ChatToolCall } from "../models/types.js";
import { serverErrorOf, type ServerError } from "./errors.js";
import { MAX_TOOL_ARGUMENT_CHARS } from "../tools/argument-limit.js";

interface PartialCall {
  id: string | undefined;
  name: string;
  args: string;
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const text = (v: unknown) => (typeof v === "string" ? v : "");
const round = (n: number) => Math.round(n * 1_000) / 1_000;

/** What one `data:` chunk produced. */
export interface ChunkResult {
  chunks: ChatChunk[];
  /** The server reported an error in this chunk (`{"error": …}`). */
  error?: ServerError;
  /** The chunk carried output (text, reasoning, a tool-call fragment or a finish reason). */
  progressed: boolean;
}

/**
 * Turns the JSON chunks of a chat-completions stream into {@link ChatChunk}s:
 *
 * - `delta.content` → `text`; `delta.reasoning_content` (llama.cpp
 *   `server_chat_msg_diff_to_json_oaicompat`, vLLM before 0.11) or `delta.reasoning` (vLLM
 *   `DeltaMessage.reasoning`, Ollama /v1) → `thinking`;
 * - `delta.tool_calls[]` by `index`: the first fragment of a call carries its `id` and
 *   `function.name`, later ones `function.arguments` pieces (vLLM `DeltaToolCall`, llama.cpp
 *   `tool_call_delta`), or the whole call in one piece (Ollama /v1 `ToToolCalls`). A call is
 *   complete, and emitted as one `tool_call` chunk, at the `finish_reason` or the end of the
 *   stream (fragments of parallel calls may interleave);
 * - `finish_reason` → `doneReason`; the usage chunk (`choices: []`, `usage`) → token counts, with
 *   `usage.prompt_tokens_details.cached_tokens` (vLLM with `--enable-prompt-tokens-details`,
 *   llama.cpp always) giving `promptEvalTokens = prompt_tokens − cached_tokens`; llama.cpp's
 *   `timings` → `promptEvalMs`, `evalMs`.
 */
export class StreamChunks {
  private readonly calls = new Map<number, PartialCall>();
  /** Calls replaced at their index by a call with another id, waiting for the end. */
  private readonly finished: PartialCall[] = [];
  private finishReason: string | undefined;
  private readonly info: ChatDoneInfo = {};

  /** A finish reason was seen (the answer is complete even if `[DONE]` never comes). */
  get complete(): boolean {
    return this.finishReason !== undefined;
  }

  push(value: unknown): ChunkResult {
    const error = serverErrorOf(value);
    // A chunk is `{ id, object, choices, … }`; an error event is `{ error }` (or `{ object: "error" }`).
    if (error && (typeof value !== "object" || value === null || !Array.isArray((value as { choices?: unknown }).choices))) {
      return { chunks: [], error, progressed: false };
    }
    // Anything else than an object (`data: null`, a number) carries nothing.
    const chunk = (typeof value === "object" && value !== null ? value : {}) as { choices?: unknown; usage?: unknown; timings?: unknown };
    const out: ChatChunk[] = [];
    let progressed = false;
    for (const raw of Array.isArray(chunk.choices) ? chunk.choices : []) {
      if (typeof raw !== "object" || raw === null) continue;
      const choice = raw as { index?: unknown; delta?: unknown; finish_reason?: unknown };
      if (choice.index !== undefined && choice.index !== 0) continue; // n > 1 is never asked for
      const delta = (typeof choice.delta === "object" && choice.delta !== null ? choice.delta : {}) as Record<string, unknown>;
      const thinking = text(delta.reasoning_content) || text(delta.reasoning);
      if (thinking) {
        out.push({ type: "thinking", text: thinking });
        progressed = true;
      }
      const content = text(delta.content);
      if (content) {
        out.push({ type: "text", text: content });
        progressed = true;
      }
      if (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) {
        this.addToolCalls(delta.tool_calls);
        progressed = true;
      }
      if (typeof choice.finish_reason === "string" && choice.finish_reason) {
        this.finishReason = choice.finish_reason;
        progressed = true;
        out.push(...this.flush());
      }
    }
    this.readUsage(chunk.usage, chunk.timings);
    return { chunks: out, progressed };
  }

  /** The tool calls not emitted yet (call at the end of the stream). */
  flush(): ChatChunk[] {
    const all = [...this.finished, ...[...this.calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c)];
    this.finished.length = 0;
    this.calls.clear();
    const out: ChatChunk[] = [];
    for (const c of all) {
      if (!c.name) continue; // a call without a name cannot be run
      const call: ChatToolCall = { ...(c.id ? { id: c.id } : {}), name: c.name, arguments: c.args.trim() ? c.args : "{}" };
      out.push({ type: "tool_call", call });
    }
    return out;
  }

  /** The final `done` chunk's information. */
  done(model: string): ChatDoneInfo {
    return { ...this.info, ...(this.finishReason ? { doneReason: this.finishReason } : {}), model };
  }

  private addToolCalls(list: unknown[]): void {
    list.forEach((raw, position) => {
      if (typeof raw !== "object" || raw === null) return;
      const delta = raw as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } };
      const index = num(delta.index) ?? position;
      const id = typeof delta.id === "string" && delta.id ? delta.id : undefined;
      const name = text(delta.function?.name);
      const args = delta.function?.arguments;
      const piece = typeof args === "string" ? args : args !== undefined && args !== null ? JSON.stringify(args) : "";
      let call = this.calls.get(index);
      if (call && id && call.id && id !== call.id) {
        // Another call at the same index: the previous one is complete.
        this.finished.push(call);
        call = undefined;
      }
      if (!call) {
        call = { id, name, args: "" };
        this.calls.set(index, call);
      } else {
        if (id && !call.id) call.id = id;
        // A later name is the whole name, grown: llama.cpp's server streams a name as its parser
        // reads more of it (common/chat.cpp `common_chat_msg_diff::compute_diffs`: "name grows",
        // sent whole at the same index and id), as OpenAI's own client takes the last one.
        if (name) call.name = name;
      }
      // Past the most a call may carry, the rest is not kept (memory stays bounded): the pipeline
      // refuses the call (`TOOL_ARGUMENTS_TOO_LONG`).
      if (call.args.length <= MAX_TOOL_ARGUMENT_CHARS) call.args += piece;
    });
  }

  private readUsage(usage: unknown, timings: unknown): void {
    if (typeof usage === "object" && usage !== null) {
      const u = usage as {
        prompt_tokens?: unknown;
        completion_tokens?: unknown;
        prompt_tokens_details?: { cached_tokens?: unknown } | null;
      };
      const prompt = num(u.prompt_tokens);
      const output = num(u.completion_tokens);
      const cached = num(u.prompt_tokens_details?.cached_tokens);
      if (prompt !== undefined) this.info.inputTokens = prompt;
      if (output !== undefined) this.info.outputTokens = output;
      if (prompt !== undefined && cached !== undefined) this.info.promptEvalTokens = Math.max(0, prompt - cached);
    }
    if (typeof timings === "object" && timings !== null) {
      // llama.cpp `result_timings::to_json`: prompt_n / prompt_ms (evaluated), predicted_ms.
      const t = timings as { prompt_n?: unknown; prompt_ms?: unknown; predicted_ms?: unknown };
      const promptMs = num(t.prompt_ms);
      const evalMs = num(t.predicted_ms);
      const promptN = num(t.prompt_n);
      if (promptMs !== undefined) this.info.promptEvalMs = round(promptMs);
      if (evalMs !== undefined) this.info.evalMs = round(evalMs);
      if (promptN !== undefined && this.info.promptEvalTokens === undefined) this.info.promptEvalTokens = promptN;
    }
  }
}

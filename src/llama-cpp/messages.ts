import type {
  ChatHistoryItem,
  ChatModelFunctionCall,
  ChatModelFunctions,
  ChatModelResponse,
  LLamaContextualRepeatPenalty,
} from "node-llama-cpp";
import type { ChatMessage, ChatToolDefinition } from "../models/types.js";
import type { RouteOptions } from "../routing/types.js";
import { setEntry } from "../shared/own-entry.js";

/**
 * The pipeline's messages (Ollama's shape) as node-llama-cpp chat history. Assistant tool calls
 * become function calls; a `tool` message fills in the result of its call (by id, else the first
 * call of that name still without one; when there is none, it is shown to the model as a user
 * message).
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  /** Each call's id, where the message gave one: a result finds its own call by it first. */
  const callIds = new WeakMap<ChatModelFunctionCall, string>();
  for (const message of messages) {
    switch (message.role) {
      case "system":
        history.push({ type: "system", text: message.content });
        break;
      case "user":
        history.push({ type: "user", text: message.content });
        break;
      case "assistant": {
        const response: ChatModelResponse["response"] = [];
        if (message.content) response.push(message.content);
        for (const call of message.tool_calls ?? []) {
          const functionCall: ChatModelFunctionCall = {
            type: "functionCall",
            name: call.function.name,
            params: call.function.arguments,
            result: undefined,
          };
          if (typeof call.id === "string") callIds.set(functionCall, call.id);
          response.push(functionCall);
        }
        history.push({ type: "model", response });
        break;
      }
      case "tool": {
        const call = openCall(history, message.tool_name, message.tool_call_id, callIds);
        if (call) call.result = parseResult(message.content);
        else history.push({ type: "user", text: `Result of ${message.tool_name ?? "a tool"}:\n${message.content}` });
        break;
      }
    }
  }
  return history;
}

/**
 * The call of the last model response a result answers: the one with its id, else the first of
 * that name (or of any name) that has no result yet. By id first: results may come in another
 * order than their calls (a client's handlers that end at different times), and two calls of
 * one tool would then swap results.
 */
function openCall(
  history: ChatHistoryItem[],
  name: string | undefined,
  id: unknown,
  callIds: WeakMap<ChatModelFunctionCall, string>,
): ChatModelFunctionCall | undefined {
  const last = history[history.length - 1];
  if (last?.type !== "model") return undefined;
  const calls = last.response.filter(
    (r): r is ChatModelFunctionCall => typeof r === "object" && r.type === "functionCall" && r.result === undefined,
  );
  return (
    (typeof id === "string" ? calls.find((c) => callIds.get(c) === id) : undefined) ??
    calls.find((c) => name === undefined || c.name === name)
  );
}

function parseResult(content: string): unknown {
  try {
    return JSON.parse(content);
  } catch {
    return content;
  }
}

/** Tool definitions as node-llama-cpp functions (the JSON schema is passed as is). */
export function toFunctions(tools: readonly ChatToolDefinition[] | undefined): ChatModelFunctions | undefined {
  if (!tools || tools.length === 0) return undefined;
  const functions: Record<string, ChatModelFunctions[string]> = {};
  for (const tool of tools) {
    const { name, description, parameters } = tool.function;
    // setEntry: a tool named "__proto__" is a key, not the record's prototype.
    setEntry(functions, name, {
      ...(description === undefined ? {} : { description }),
      ...(parameters === undefined ? {} : { params: parameters as NonNullable<ChatModelFunctions[string]["params"]> }),
    });
  }
  return functions;
}

/** Generation settings of one request, from Ollama-named route options. */
export interface GenerationSettings {
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed?: number;
  stop?: string[];
  repeatPenalty?: LLamaContextualRepeatPenalty;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * Map Ollama option names to node-llama-cpp's: `num_predict` (≥ 1, whole tokens) → `maxTokens` (else
 * `defaultMaxTokens`), `temperature`, `top_k`, `top_p`, `min_p`, `seed`, `stop`,
 * `repeat_penalty`, `repeat_last_n`, `presence_penalty`, `frequency_penalty`. Others are ignored.
 */
export function toGenerationSettings(options: RouteOptions, defaultMaxTokens: number): GenerationSettings {
  const predict = num(options.num_predict);
  const settings: GenerationSettings = {
    // Not `> 0`: 0.5 would floor to 0, which node-llama-cpp reads as "no limit".
    maxTokens: predict !== undefined && predict >= 1 ? Math.floor(predict) : defaultMaxTokens,
  };
  const temperature = num(options.temperature);
  if (temperature !== undefined) settings.temperature = Math.max(0, temperature);
  const topK = num(options.top_k);
  if (topK !== undefined) settings.topK = topK;
  const topP = num(options.top_p);
  if (topP !== undefined) settings.topP = topP;
  const minP = num(options.min_p);
  if (minP !== undefined) settings.minP = minP;
  const seed = num(options.seed);
  if (seed !== undefined) settings.seed = seed;
  const stop = options.stop;
  if (typeof stop === "string" && stop) settings.stop = [stop];
  else if (Array.isArray(stop)) {
    const strings = stop.filter((s): s is string => typeof s === "string" && s.length > 0);
    if (strings.length) settings.stop = strings;
  }
  const penalty: LLamaContextualRepeatPenalty = {};
  const repeat = num(options.repeat_penalty);
  if (repeat !== undefined) penalty.penalty = repeat;
  const lastN = num(options.repeat_last_n);
  if (lastN !== undefined && lastN >= 0) penalty.lastTokens = Math.floor(lastN);
  const presence = num(options.presence_penalty);
  if (presence !== undefined) penalty.presencePenalty = presence;
  const frequency = num(options.frequency_penalty);
  if (frequency !== undefined) penalty.frequencyPenalty = frequency;
  if (Object.keys(penalty).length) settings.repeatPenalty = penalty;
  return settings;
}

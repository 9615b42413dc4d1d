import type { ChatMessage, ChatRequest, ThinkSetting } from "../models/types.js";
import type { RouteOptions } from "../routing/types.js";
import type { ThinkFormat } from "./options.js";

/** A message as `/chat/completions` takes it. */
export interface OpenAiMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  tool_calls?: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

/**
 * Route options (Ollama names) → chat-completions fields. Others are not sent: load-time options
 * (`num_ctx`, `num_gpu`, …) are fixed when the server starts, and Ollama-only sampling options
 * have other names on each server (use `extraBody`).
 */
const OPTION_FIELDS: Readonly<Record<string, string>> = {
  num_predict: "max_tokens",
  temperature: "temperature",
  top_p: "top_p",
  top_k: "top_k",
  min_p: "min_p",
  seed: "seed",
  stop: "stop",
  frequency_penalty: "frequency_penalty",
  presence_penalty: "presence_penalty",
};

/** The sampling fields of a route's options. */
export function optionFields(options: RouteOptions | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!options) return out;
  for (const [key, field] of Object.entries(OPTION_FIELDS)) {
    const value = options[key];
    if (value === undefined || value === null) continue;
    // Ollama's -1 (no limit) and -2 (fill the context) have no chat-completions equivalent.
    if (key === "num_predict" && !(typeof value === "number" && value > 0)) continue;
    if (key === "stop" && !(typeof value === "string" || (Array.isArray(value) && value.every((s) => typeof s === "string")))) continue;
    out[field] = value;
  }
  return out;
}

/** The body fields that carry a `think` setting, in the given format. */
export function thinkFields(think: ThinkSetting | undefined, format: ThinkFormat): Record<string, unknown> {
  if (think === undefined) return {};
  if (typeof format === "function") return format(think) ?? {};
  switch (format) {
    case "none":
      return {};
    case "reasoning_effort":
      return { reasoning_effort: think === false ? "none" : think === true ? "medium" : think };
    case "chat_template_kwargs":
      return { chat_template_kwargs: { enable_thinking: think !== false } };
  }
}

const stringId = (value: unknown) => (typeof value === "string" && value ? value : undefined);

/**
 * The messages as `/chat/completions` takes them. Assistant tool calls are replayed with their
 * `id` (`type: "function"`, arguments as JSON text) and every tool result carries the
 * `tool_call_id` of its call. Missing ids are filled in: a call without one takes the
 * `tool_call_id` of a result that follows it (same tool name), else the stable `call_<i>_<j>`
 * (message `i`, call `j`); a result without one takes the id of the first unanswered call of the
 * same tool name, else of the first unanswered call. Stable ids keep the prompt byte-identical
 * from turn to turn (KV prefix reuse).
 */
export function toOpenAiMessages(messages: readonly ChatMessage[]): OpenAiMessage[] {
  const out: OpenAiMessage[] = [];
  let unanswered: Array<{ id: string; name: string }> = [];
  messages.forEach((message, i) => {
    if (message.role === "assistant" && message.tool_calls && message.tool_calls.length > 0) {
      // Ids the results that follow already carry, for calls sent without one.
      const results: Array<{ id: string; name: string | undefined }> = [];
      for (let k = i + 1; k < messages.length && messages[k]?.role === "tool"; k++) {
        const id = stringId(messages[k]?.tool_call_id);
        if (id) results.push({ id, name: messages[k]?.tool_name });
      }
      const taken = new Set(message.tool_calls.map((c) => stringId(c.id)).filter((id) => id !== undefined));
      const fromResults = (name: string) => {
        const match =
          results.find((r) => !taken.has(r.id) && r.name === name) ?? results.find((r) => !taken.has(r.id) && r.name === undefined);
        if (match) taken.add(match.id);
        return match?.id;
      };
      const calls = message.tool_calls.map((call, j) => {
        const args: unknown = call.function.arguments;
        return {
          id: stringId(call.id) ?? fromResults(call.function.name) ?? `call_${i}_${j}`,
          type: "function" as const,
          function: { name: call.function.name, arguments: typeof args === "string" ? args : JSON.stringify(args ?? {}) },
        };
      });
      unanswered = calls.map((c) => ({ id: c.id, name: c.function.name }));
      out.push({ role: "assistant", content: message.content, tool_calls: calls });
      return;
    }
    if (message.role === "tool") {
      let id = stringId(message.tool_call_id);
      if (id === undefined) {
        const byName = message.tool_name === undefined ? -1 : unanswered.findIndex((c) => c.name === message.tool_name);
        id = unanswered[Math.max(byName, 0)]?.id ?? `call_${i}`;
      }
      unanswered = unanswered.filter((c) => c.id !== id);
      out.push({ role: "tool", content: message.content, tool_call_id: id });
      return;
    }
    unanswered = [];
    out.push({ role: message.role, content: message.content });
  });
  return out;
}

/** What the body builder needs from the backend's options. */
export interface BodySettings {
  think: ThinkFormat;
  includeUsage: boolean;
  extraBody: Record<string, unknown> | ((request: ChatRequest) => Record<string, unknown> | undefined) | undefined;
}

/**
 * The body of a streaming `POST /chat/completions`:
 * `{ model, messages, stream: true, stream_options: { include_usage: true }, tools?, …sampling,
 * …think, …extraBody }`. `chat_template_kwargs` of the think setting and of `extraBody` are merged.
 */
export function chatBody(request: ChatRequest, settings: BodySettings): Record<string, unknown> {
  const extra = typeof settings.extraBody === "function" ? (settings.extraBody(request) ?? {}) : (settings.extraBody ?? {});
  const think = thinkFields(request.think, settings.think);
  const body: Record<string, unknown> = {
    model: request.model,
    messages: toOpenAiMessages(request.messages),
    stream: true,
    ...(settings.includeUsage ? { stream_options: { include_usage: true } } : {}),
    ...(request.tools && request.tools.length > 0 ? { tools: request.tools } : {}),
    ...optionFields(request.options),
    ...think,
    ...extra,
  };
  const kwargs = [think.chat_template_kwargs, extra.chat_template_kwargs].filter(
    (k): k is Record<string, unknown> => typeof k === "object" && k !== null,
  );
  if (kwargs.length > 1) body.chat_template_kwargs = Object.assign({}, ...kwargs);
  return body;
}

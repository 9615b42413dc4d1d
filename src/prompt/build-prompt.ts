import { userStart } from "../history/window.js";
import type { Context } from "@ag-ui/core";
import type { ProviderOutcome } from "../context/types.js";
import type { ChatMessage } from "../models/types.js";
import { sortedBy } from "../shared/sorted.js";
import { MESSAGE_OVERHEAD_TOKENS, messageCost, type TokenCounter } from "./token-count.js";

/** What goes into one prompt, most stable first. */
export interface PromptParts {
  systemPrompt: string;
  /** Provider outcomes (only those with text are used). */
  context: readonly ProviderOutcome[];
  /** Context items the client sent with the run (AG-UI `context`); volatile, priority 0. */
  clientContext: readonly Context[];
  /** Past messages, already windowed by count. */
  history: readonly ChatMessage[];
  /** The user turn as typed. */
  userText: string;
  /** Messages after the user turn (tool results of a continued run). */
  trailing: readonly ChatMessage[];
  /** Budget of all context sections, in tokens. */
  contextTokens: number;
  /** Budget of the whole prompt, in tokens: history moves its window forward to fit. */
  promptTokens: number;
  /** How far the history window moves at once, in messages. */
  step: number;
  /** Counts tokens (the backend's tokenizer, or the estimate). */
  count: TokenCounter;
  /** Tokens of the budget taken before any message: the tool definitions sent with the prompt. */
  reservedTokens?: number;
}

/** The assembled prompt, the exact content of the user turn the model sees, and what was cut. */
export interface BuiltPrompt {
  messages: ChatMessage[];
  userContent: string;
  /** Tokens of the whole prompt, as counted (the tool definitions included). */
  tokens: number;
  /** Context sections left out or shortened to fit `contextTokens`, by name. */
  cutContext: string[];
  /** Past messages dropped to fit `promptTokens` (a window move forced by the budget). */
  droppedHistory: number;
  /** Tool results the client sent (a continued run) that were cut to fit `promptTokens`. */
  cutToolResults?: number;
}

interface Section {
  name: string;
  text: string;
  placement: "stable" | "volatile";
  priority: number;
  from: "provider" | "client";
}

/** Longest section name (a client context item's `description`), in characters. */
const MAX_NAME_CHARS = 200;

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Which section is kept first when context must be cut: higher priority, then stable, then by name. */
const keepOrder = (a: Section, b: Section) =>
  b.priority - a.priority || (a.placement === b.placement ? 0 : a.placement === "stable" ? -1 : 1) || byName(a, b);

function render(sections: readonly Section[]): string {
  let out = "";
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i] as Section;
    out += i === 0 ? `[${s.name}]\n${s.text}` : `\n\n[${s.name}]\n${s.text}`;
  }
  return out;
}

/** `text` cut so that it counts at most `tokens` (proportionally, then checked). */
function cutTo(text: string, tokens: number, count: TokenCounter): string {
  if (tokens <= 0) return "";
  let chars = Math.floor((text.length * tokens) / Math.max(1, count(text)));
  for (let tries = 0; tries < 4 && chars > 0 && count(text.slice(0, chars)) > tokens; tries++) chars = Math.floor(chars * 0.85);
  return `${text.slice(0, chars)}…`;
}

/**
 * Admit context sections to the `contextTokens` budget in priority order (per-provider
 * `priority`, higher first; stable before volatile at equal priority; then by name). The section
 * that overflows is shortened; the rest are left out.
 */
function admitContext(sections: Section[], budget: number, count: TokenCounter): { kept: Section[]; cut: string[] } {
  const kept: Section[] = [];
  const cut: string[] = [];
  let left = budget;
  for (const s of sortedBy(sections, keepOrder)) {
    const cost = count(s.name) + count(s.text) + 2;
    if (cost <= left) {
      kept.push(s);
      left -= cost;
      continue;
    }
    cut.push(s.name);
    const room = left - count(s.name) - 2;
    if (room > 8) {
      kept.push({ ...s, text: cutTo(s.text, room, count) });
      left = 0;
    }
  }
  return { kept, cut };
}

/**
 * Assemble a prompt most-stable first: system prompt and long-lived context, then history,
 * then the volatile context with the user turn, then any trailing tool results. Sections are
 * sorted by name within their place, so equal inputs always give byte-identical prompts.
 *
 * The budget counts the whole prompt in tokens, the tool definitions (`reservedTokens`) too.
 * Context sections share `contextTokens`, cut by priority; when they and the system prompt,
 * history and turn together exceed `promptTokens`, the history
 * window's start moves forward by `step` messages at a time (oldest first) until it fits.
 */
export function buildPrompt(parts: PromptParts): BuiltPrompt {
  const { count } = parts;
  const sections: Section[] = [];
  for (const c of parts.context) {
    if (c.text) sections.push({ name: c.name, text: c.text, placement: c.placement, priority: c.priority ?? 0, from: "provider" });
  }
  for (const c of parts.clientContext) {
    sections.push({
      name: c.description.length > MAX_NAME_CHARS ? `${c.description.slice(0, MAX_NAME_CHARS)}…` : c.description,
      text: c.value,
      placement: "volatile",
      priority: 0,
      from: "client",
    });
  }
  const { kept, cut } = admitContext(sections, parts.contextTokens, count);
  // Layout order is independent of priority: the prompt prefix must not depend on what was cut last.
  // One pass: stable sections, then the providers' volatile ones, then the client's (in its order).
  const stableKept: Section[] = [];
  const providerVolatile: Section[] = [];
  const clientVolatile: Section[] = [];
  for (const s of kept) {
    if (s.placement === "stable") stableKept.push(s);
    else if (s.placement === "volatile") (s.from === "provider" ? providerVolatile : clientVolatile).push(s);
  }
  const stable = sortedBy(stableKept, byName);
  const volatileAll = sortedBy(providerVolatile, byName).concat(clientVolatile);

  const system = stable.length > 0 ? `${parts.systemPrompt}\n\n${render(stable)}` : parts.systemPrompt;
  const userContent = volatileAll.length > 0 ? `<context>\n${render(volatileAll)}\n</context>\n\n${parts.userText}` : parts.userText;

  const costOf = (m: ChatMessage) => messageCost(m, count);
  let fixed = (parts.reservedTokens ?? 0) + count(system) + count(userContent) + 2 * MESSAGE_OVERHEAD_TOKENS;
  for (const m of parts.trailing) fixed += costOf(m);
  const historyCosts: number[] = [];
  let historyTokens = 0;
  for (const m of parts.history) {
    const cost = costOf(m);
    historyCosts.push(cost);
    historyTokens += cost;
  }
  let dropped = 0;
  const step = Math.max(1, parts.step);
  while (dropped < parts.history.length && fixed + historyTokens > parts.promptTokens) {
    const next = userStart(parts.history, Math.min(parts.history.length, dropped + step));
    for (let i = dropped; i < next; i++) historyTokens -= historyCosts[i] as number;
    dropped = next;
  }
  const messages: ChatMessage[] = [{ role: "system", content: system }];
  for (let i = dropped; i < parts.history.length; i++) messages.push(parts.history[i] as ChatMessage);
  messages.push({ role: "user", content: userContent });
  for (const m of parts.trailing) messages.push(m);
  return {
    messages,
    userContent,
    tokens: fixed + historyTokens,
    cutContext: cut,
    droppedHistory: dropped,
  };
}

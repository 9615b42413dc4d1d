import type { Context } from "@ag-ui/core";
import type { ProviderOutcome } from "../context/types.js";
import type { ChatMessage } from "../models/types.js";

/** What goes into one prompt, most stable first. */
export interface PromptParts {
  systemPrompt: string;
  /** Provider outcomes (only those with text are used). */
  context: readonly ProviderOutcome[];
  /** Context items the client sent with the run (AG-UI `context`); volatile. */
  clientContext: readonly Context[];
  /** Past messages, already windowed. */
  history: readonly ChatMessage[];
  /** The user turn as typed. */
  userText: string;
  /** Messages after the user turn (tool results of a continued run). */
  trailing: readonly ChatMessage[];
  /** Budget for all context text, in characters. */
  contextChars: number;
}

/** The assembled prompt and the exact content of the user turn the model sees. */
export interface BuiltPrompt {
  messages: ChatMessage[];
  userContent: string;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Longest section name (a client context item's `description`), in characters. */
const MAX_NAME_CHARS = 200;

/**
 * Cut sections to a shared character budget, in order; a section that overflows is truncated.
 * Names count against the budget too (a client controls its context items' descriptions).
 */
function withinBudget(sections: Array<{ name: string; text: string }>, budget: number) {
  const kept: Array<{ name: string; text: string }> = [];
  let left = budget;
  for (const s of sections) {
    const name = s.name.length > MAX_NAME_CHARS ? `${s.name.slice(0, MAX_NAME_CHARS)}…` : s.name;
    left -= name.length;
    if (left <= 0) break;
    const text = s.text.length > left ? `${s.text.slice(0, left)}…` : s.text;
    kept.push({ name, text });
    left -= s.text.length;
  }
  return kept;
}

const render = (sections: Array<{ name: string; text: string }>) =>
  sections.map((s) => `[${s.name}]\n${s.text}`).join("\n\n");

/**
 * Assemble a prompt most-stable first: system prompt and long-lived context, then history,
 * then the volatile context with the user turn, then any trailing tool results. Sections are
 * sorted by name so that equal inputs always give byte-identical prompts.
 */
export function buildPrompt(parts: PromptParts): BuiltPrompt {
  const withText = parts.context.filter((c): c is ProviderOutcome & { text: string } => !!c.text);
  const stable = withText.filter((c) => c.placement === "stable").sort(byName);
  const volatile = [
    ...withText.filter((c) => c.placement === "volatile").sort(byName),
    ...parts.clientContext.map((c) => ({ name: c.description, text: c.value })),
  ];
  const kept = withinBudget([...stable, ...volatile].map((c) => ({ name: c.name, text: c.text })), parts.contextChars);
  const keptStable = kept.slice(0, Math.min(stable.length, kept.length));
  const keptVolatile = kept.slice(keptStable.length);

  const system = keptStable.length > 0 ? `${parts.systemPrompt}\n\n${render(keptStable)}` : parts.systemPrompt;
  const userContent =
    keptVolatile.length > 0 ? `<context>\n${render(keptVolatile)}\n</context>\n\n${parts.userText}` : parts.userText;
  return {
    messages: [
      { role: "system", content: system },
      ...parts.history,
      { role: "user", content: userContent },
      ...parts.trailing,
    ],
    userContent,
  };
}

/**
 * The conversation, drawn from the agent's messages (`agent.messages`, kept by @ag-ui/client as
 * events arrive). Each message is one element keyed by its id and redrawn only when what it
 * shows changed, so streaming re-renders just the answer being written.
 */
import { contentToText, type AssistantMessage, type Message, type ToolCall } from "@ag-ui/client";
import { NO_CHOICE, OFFER_CHOICES, parseChoices } from "./choices.js";
import { renderMarkdown } from "./markdown.js";

export interface ConversationView {
  messages: readonly Message[];
  /** A run is streaming. */
  running: boolean;
  /** What the assistant is doing before its first output of this run; undefined once it writes. */
  working: string | undefined;
  /** Answers cut short by Stop. */
  stopped: ReadonlySet<string>;
}

interface Item {
  key: string;
  signature: string;
  draw(element: HTMLElement): void;
  className: string;
}

const NEAR_BOTTOM_PX = 96;

/** Pretty JSON when the text is JSON, else the text. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

export class Conversation {
  private readonly elements = new Map<string, { element: HTMLElement; signature: string }>();
  /** Disclosures the user opened (tool calls, reasoning), kept open across redraws. */
  private readonly open = new Set<string>();

  constructor(
    private readonly log: HTMLElement,
    private readonly empty: HTMLElement,
    private readonly onChoose: (toolCallId: string, option: string) => void,
  ) {}

  render(view: ConversationView, { forceScroll = false } = {}): void {
    const stick = forceScroll || this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < NEAR_BOTTOM_PX;
    const items = this.items(view);
    const ordered: HTMLElement[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(item.key);
      let entry = this.elements.get(item.key);
      if (!entry) {
        entry = { element: el("div"), signature: "" };
        this.elements.set(item.key, entry);
      }
      if (entry.signature !== item.signature) {
        entry.element.className = item.className;
        entry.element.dataset.key = item.key;
        item.draw(entry.element);
        entry.signature = item.signature;
      }
      ordered.push(entry.element);
    }
    for (const key of [...this.elements.keys()]) if (!seen.has(key)) this.elements.delete(key);
    const current = [...this.log.children].filter((c) => c !== this.empty);
    if (current.length !== ordered.length || current.some((c, i) => c !== ordered[i])) {
      this.log.replaceChildren(...(ordered.length === 0 ? [this.empty] : ordered));
    }
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }

  private items(view: ConversationView): Item[] {
    const { messages } = view;
    const results = new Map<string, string>();
    const choiceCalls = new Set<string>();
    for (const m of messages) {
      if (m.role === "tool") results.set(m.toolCallId, contentToText(m.content));
      if (m.role === "assistant") for (const c of m.toolCalls ?? []) if (c.function.name === OFFER_CHOICES) choiceCalls.add(c.id);
    }
    const items: Item[] = [];
    for (const m of messages) {
      switch (m.role) {
        case "user": {
          const text = contentToText(m.content);
          items.push({ key: m.id, className: "msg user", signature: text, draw: (e) => e.replaceChildren(el("div", "bubble", text)) });
          break;
        }
        case "tool": {
          // The answer to offer_choices is the user's pick: show it as the user's turn.
          const text = contentToText(m.content);
          if (!choiceCalls.has(m.toolCallId) || text === NO_CHOICE) break;
          items.push({
            key: m.id,
            className: "msg user choice-made",
            signature: text,
            draw: (e) => e.replaceChildren(el("div", "bubble", text)),
          });
          break;
        }
        case "assistant": {
          const item = this.assistant(m, results, view);
          if (item) items.push(item);
          break;
        }
        case "reasoning": {
          const text = contentToText(m.content);
          if (!text.trim()) break;
          items.push({
            key: m.id,
            className: "msg reasoning",
            signature: text,
            draw: (e) => {
              const details = this.disclosure(m.id);
              details.append(el("summary", undefined, "Reasoning"), el("div", "reasoning-text", text));
              e.replaceChildren(details);
            },
          });
          break;
        }
        default:
          // system, developer and activity messages are not part of the visible conversation
          // (the context providers' activity is shown in the run panel).
          break;
      }
    }
    if (view.working !== undefined) {
      const label = view.working;
      items.push({
        key: "working",
        className: "msg assistant working",
        signature: label,
        draw: (e) => {
          const bubble = el("div", "bubble");
          const dots = el("span", "dots");
          dots.setAttribute("aria-hidden", "true");
          dots.append(el("i"), el("i"), el("i"));
          bubble.append(dots, el("span", "working-label", label));
          e.replaceChildren(avatar(), bubble);
        },
      });
    }
    return items;
  }

  private assistant(m: AssistantMessage, results: ReadonlyMap<string, string>, view: ConversationView): Item | undefined {
    const text = m.content ?? "";
    const calls = m.toolCalls ?? [];
    if (!text.trim() && calls.length === 0) return undefined;
    const stopped = view.stopped.has(m.id);
    const callResults = calls.map((c) => results.get(c.id));
    const signature = JSON.stringify([text, calls, callResults, stopped, view.running]);
    return {
      key: m.id,
      className: `msg assistant${stopped ? " stopped" : ""}`,
      signature,
      draw: (e) => {
        const bubble = el("div", "bubble");
        if (text.trim()) {
          const body = el("div", "md");
          body.innerHTML = renderMarkdown(text); // sanitised by DOMPurify
          bubble.append(body);
        }
        calls.forEach((call, i) => bubble.append(this.toolCall(call, callResults[i], view.running)));
        if (stopped) bubble.append(el("span", "tag", "Stopped"));
        e.replaceChildren(avatar(), bubble);
      },
    };
  }

  private toolCall(call: ToolCall, result: string | undefined, running: boolean): HTMLElement {
    if (call.function.name === OFFER_CHOICES) {
      const { question, options } = parseChoices(call.function.arguments);
      const box = el("div", "choices");
      box.dataset.toolCallId = call.id;
      if (question) box.append(el("p", "choices-question", question));
      const row = el("div", "choice-buttons");
      for (const option of options) {
        const button = el("button", "choice", option);
        button.type = "button";
        const chosen = result === option;
        button.disabled = result !== undefined || running;
        button.setAttribute("aria-pressed", String(chosen));
        if (chosen) button.classList.add("chosen");
        button.addEventListener("click", () => this.onChoose(call.id, option));
        row.append(button);
      }
      box.append(row);
      if (result === NO_CHOICE) box.append(el("p", "muted", "Skipped: you wrote a message instead."));
      return box;
    }
    const details = this.disclosure(call.id, "tool-use");
    const summary = el("summary");
    const status = result !== undefined ? "done" : running ? "running" : "no result";
    summary.append(
      el("span", "tool-label", "Tool"),
      el("code", "tool-name", call.function.name),
      el("span", `tool-status ${result === undefined ? "pending" : "done"}`, status),
    );
    details.append(summary, el("h4", undefined, "Arguments"), el("pre", "tool-json", prettyJson(call.function.arguments || "{}")));
    if (result !== undefined) details.append(el("h4", undefined, "Result"), el("pre", "tool-json", prettyJson(result)));
    return details;
  }

  /** A <details> that remembers whether the user opened it. */
  private disclosure(id: string, className?: string): HTMLDetailsElement {
    const details = el("details", className);
    details.open = this.open.has(id);
    details.addEventListener("toggle", () => (details.open ? this.open.add(id) : this.open.delete(id)));
    return details;
  }
}

function avatar(): HTMLElement {
  const a = el("span", "avatar", "Z");
  a.setAttribute("aria-hidden", "true");
  return a;
}

/**
 * The example chat page. One `HttpAgent` from @ag-ui/client holds the conversation: it posts each
 * run to /api/agent, parses the SSE stream, applies messages and state patches, and tells this
 * page through subscriber callbacks. The page only draws what the agent holds.
 */
import { HttpAgent, type Message } from "@ag-ui/client";
import { runResult, zoeMetrics, zoeState } from "zoe-pipeline/client";
import { NO_CHOICE, OFFER_CHOICES, offerChoicesTool } from "./choices.js";
import { Conversation } from "./conversation.js";
import { RunPanel, type PanelToolCall, type Stage } from "./run-panel.js";
import "./style.css";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const log = $("log");
const input = $<HTMLTextAreaElement>("message");
const sendButton = $<HTMLButtonElement>("send");
const stopButton = $<HTMLButtonElement>("stop");
const notice = $("notice");

// The server knows the visitor from its own signed cookie (same origin, sent by fetch): the page
// never names a user. A new thread per page load.
const agent = new HttpAgent({ url: new URL("/api/agent", location.href).href, threadId: crypto.randomUUID() });
const panel = new RunPanel();
const conversation = new Conversation(log, $("empty"), (toolCallId, option) => void choose(toolCallId, option));

/** The run in flight, if any. */
let current:
  | {
      /** Messages this page added for the run (a user turn, tool results): taken back if the server rejects them. */
      added: Message[];
      /** Tool calls the run streamed, in order. */
      toolCallIds: string[];
      /** The run produced visible output (text or a tool call). */
      output: boolean;
      stopRequested: boolean;
      error?: string;
    }
  | undefined;
const stopped = new Set<string>();
let frame: number | undefined;
let forceScroll = false;

function workingLabel(): string | undefined {
  if (!current || current.output) return undefined;
  const zoe = zoeState(agent.state);
  switch (zoe?.stage) {
    case "context": {
      const all = Object.values(zoe.providers);
      const done = all.filter((p) => p.status !== "pending").length;
      return all.length ? `Gathering context (${done} of ${all.length})` : "Gathering context";
    }
    case "generate":
      return "Thinking";
    default:
      return "Choosing a route";
  }
}

/** Redraw at most once a frame, however fast tokens arrive. */
function draw({ scroll = false } = {}): void {
  forceScroll ||= scroll;
  frame ??= requestAnimationFrame(drawNow);
}

/** Redraw now, taking the place of a redraw waiting for the next frame. */
function drawNow(): void {
  if (frame !== undefined) cancelAnimationFrame(frame);
  frame = undefined;
  conversation.render({ messages: agent.messages, running: !!current, working: workingLabel(), stopped }, { forceScroll });
  forceScroll = false;
}

/** The run's tool calls with their arguments and results, as the agent's messages hold them. */
function panelToolCalls(ids: readonly string[]): PanelToolCall[] {
  const results = new Map<string, string>();
  for (const m of agent.messages) if (m.role === "tool") results.set(m.toolCallId, typeof m.content === "string" ? m.content : "");
  const calls = new Map(agent.messages.flatMap((m) => (m.role === "assistant" ? (m.toolCalls ?? []) : [])).map((c) => [c.id, c]));
  return ids.flatMap((id) => {
    const call = calls.get(id);
    if (!call) return [];
    return [
      {
        id,
        name: call.function.name,
        arguments: call.function.arguments,
        result: results.get(id),
        waiting: call.function.name === OFFER_CHOICES,
      },
    ];
  });
}

agent.subscribe({
  onStateChanged: ({ state }) => {
    const zoe = zoeState(state);
    if (zoe && current) panel.showState(zoe);
    draw();
  },
  onMessagesChanged: () => {
    if (current?.toolCallIds.length) panel.showToolCalls(panelToolCalls(current.toolCallIds));
    draw();
  },
  onTextMessageContentEvent: () => {
    if (current && !current.output) {
      current.output = true;
      draw({ scroll: true });
    }
  },
  onToolCallStartEvent: ({ event }) => {
    if (!current) return;
    current.output = true;
    current.toolCallIds.push(event.toolCallId);
  },
  onCustomEvent: ({ event }) => {
    const metrics = zoeMetrics(event);
    if (metrics) panel.showMetrics(metrics);
  },
  onRunFinishedEvent: ({ event }) => {
    const result = runResult(event);
    if (result && !result.cancelled) panel.showMetrics(result.metrics);
  },
  onRunErrorEvent: ({ event }) => {
    if (current) current.error = `${event.code ?? "RUN_ERROR"}: ${event.message}`;
  },
});

function setRunning(running: boolean): void {
  sendButton.hidden = running;
  stopButton.hidden = !running;
  stopButton.disabled = !running;
  if (!running) stopButton.blur();
}

function showNotice(text: string | undefined): void {
  notice.hidden = text === undefined;
  notice.textContent = text ?? "";
}

/** Why the server (or the network) refused a run: @ag-ui/client puts the HTTP status and JSON body on the error. */
function rejection(error: unknown): string {
  const { status, payload, message } = error as {
    status?: number;
    payload?: { error?: { code?: string; message?: string } };
    message?: string;
  };
  if (typeof status === "number") {
    const detail = payload?.error;
    return detail?.message ? `${detail.code ?? `HTTP ${status}`}: ${detail.message}` : `The server answered HTTP ${status}.`;
  }
  return `The server could not be reached (${message ?? String(error)}).`;
}

/**
 * Run the agent on its messages. Whatever happens, the conversation the agent keeps stays one
 * the server accepts on the next turn: a rejected message is taken back (and returned to the
 * composer), a stopped or failed run keeps what was written and drops what was not.
 */
async function run(added: Message[]): Promise<void> {
  current = { added, toolCallIds: [], output: false, stopRequested: false };
  const run = current;
  const firstNew = agent.messages.length;
  // The state is zoe's report on one run: start each run without the last one's.
  agent.setState({});
  panel.reset();
  setRunning(true);
  showNotice(undefined);
  draw({ scroll: true });
  let failure: unknown;
  try {
    await agent.runAgent({ runId: crypto.randomUUID(), tools: [offerChoicesTool] });
  } catch (error) {
    failure = error;
  }
  current = undefined;
  setRunning(false);

  let stage: Stage;
  if (run.stopRequested) {
    settle(firstNew - added.length, { stopped: true });
    stage = "stopped";
  } else if (failure !== undefined && run.error === undefined && !run.output) {
    // Refused before anything streamed (an HTTP error such as 413, or no server): nothing of
    // this turn reached the conversation, so nothing of it may be sent again with the next turn.
    takeBack(added);
    stage = "rejected";
    panel.showError(rejection(failure));
    showNotice(`Not sent. ${rejection(failure)}`);
  } else if (run.error !== undefined || failure !== undefined) {
    // The run failed on the server (RUN_ERROR) or the stream broke: zoe stores nothing of a
    // failed run, so the page keeps only what was written.
    settle(firstNew - added.length, { stopped: false });
    const text = run.error ?? rejection(failure);
    stage = "error";
    panel.showError(text);
    showNotice(`The answer failed. ${text}`);
  } else {
    stage = "done";
  }
  panel.showToolCalls(panelToolCalls(run.toolCallIds));
  // The conversation is drawn before the stage says the run is over, not a frame later: whoever
  // sees the final stage sees the final conversation (a message taken back is already gone).
  drawNow();
  panel.setStage(stage);
  if (!matchMedia("(pointer: coarse)").matches) input.focus();
}

/** Remove the messages a rejected run added; a user message goes back into the composer. */
function takeBack(added: readonly Message[]): void {
  const ids = new Set(added.map((m) => m.id));
  agent.setMessages(agent.messages.filter((m) => !ids.has(m.id)));
  const user = added.find((m) => m.role === "user");
  if (user && typeof user.content === "string" && input.value.trim() === "") {
    input.value = user.content;
    fitComposer();
  }
}

/**
 * After a stopped or failed run: keep the partial answer (marked stopped), drop empty answers and
 * tool calls that never got a result, and if nothing answered the user's message, take it back
 * too, so that the next request never carries two user messages in a row.
 */
function settle(from: number, { stopped: wasStopped }: { stopped: boolean }): void {
  const before = agent.messages.slice(0, from);
  const results = new Set(agent.messages.flatMap((m) => (m.role === "tool" ? [m.toolCallId] : [])));
  const after: Message[] = [];
  for (const m of agent.messages.slice(from)) {
    if (m.role !== "assistant") {
      after.push(m);
      continue;
    }
    const { toolCalls: all = [], ...rest } = m;
    const toolCalls = all.filter((c) => results.has(c.id));
    if (!(m.content ?? "").trim() && !toolCalls.length) continue;
    const kept: Message = toolCalls.length ? { ...rest, toolCalls } : rest;
    after.push(kept);
    if (wasStopped) stopped.add(m.id);
  }
  // Activity and reasoning messages are the page's own: only the conversation counts here.
  const conversation = after.filter((m) => m.role === "user" || m.role === "assistant" || m.role === "tool");
  const answered = conversation.some((m) => m.role === "assistant");
  const last = conversation.at(-1);
  if (!answered && last?.role === "user") {
    after.splice(after.indexOf(last), 1);
    if (typeof last.content === "string" && input.value.trim() === "") {
      input.value = last.content;
      fitComposer();
    }
    showNotice(wasStopped ? "Stopped before Zoe answered: your message is back in the box." : undefined);
  }
  agent.setMessages([...before, ...after]);
}

/** offer_choices calls still waiting for the user. */
function waitingChoices(): string[] {
  const answered = new Set(agent.messages.flatMap((m) => (m.role === "tool" ? [m.toolCallId] : [])));
  return agent.messages.flatMap((m) =>
    m.role === "assistant"
      ? (m.toolCalls ?? []).filter((c) => c.function.name === OFFER_CHOICES && !answered.has(c.id)).map((c) => c.id)
      : [],
  );
}

async function send(text: string): Promise<void> {
  // A pending choice the user skipped still gets its result: a tool call is always answered.
  const added: Message[] = waitingChoices().map((toolCallId) => ({
    id: crypto.randomUUID(),
    role: "tool",
    toolCallId,
    content: NO_CHOICE,
  }));
  added.push({ id: crypto.randomUUID(), role: "user", content: text });
  agent.addMessages(added);
  await run(added);
}

async function choose(toolCallId: string, option: string): Promise<void> {
  if (current || !waitingChoices().includes(toolCallId)) return;
  const message: Message = { id: crypto.randomUUID(), role: "tool", toolCallId, content: option };
  agent.addMessage(message);
  await run([message]);
}

function fitComposer(): void {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 180)}px`;
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || current) return;
  input.value = "";
  fitComposer();
  void send(text);
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $<HTMLFormElement>("composer").requestSubmit();
  }
});
input.addEventListener("input", fitComposer);
stopButton.addEventListener("click", () => {
  if (!current) return;
  current.stopRequested = true;
  agent.abortRun();
});

setRunning(false);
input.focus();

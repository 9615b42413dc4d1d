// The chat page: posts AG-UI RunAgentInput to /api/agent and renders the event stream as it arrives.
const $ = (id) => document.getElementById(id);
const threadId = crypto.randomUUID();
const messages = [];
let controller = null;

// A frontend tool: the model may call it; the page renders the options as buttons (human in the loop).
const tools = [
  {
    name: "offer_choices",
    description: "Offer the user a few options to pick from. Use it when the user must choose.",
    parameters: {
      type: "object",
      properties: { question: { type: "string" }, options: { type: "array", items: { type: "string" } } },
      required: ["options"],
    },
  },
];

function addBubble(role, text = "") {
  const li = document.createElement("li");
  li.className = role;
  li.textContent = text;
  $("log").append(li);
  return li;
}

function resetStatus() {
  for (const id of ["route", "model", "reason", "ttft", "tps", "total"]) $(id).textContent = "—";
  $("providers").replaceChildren();
  $("tools").replaceChildren();
  $("error").hidden = true;
}

function showProvider(name, info) {
  let li = document.querySelector(`#providers li[data-name="${CSS.escape(name)}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.name = name;
    $("providers").append(li);
  }
  li.className = info.status;
  li.textContent = `${name}: ${info.status}${info.ms !== undefined ? ` ${Math.round(info.ms)} ms` : ""}`;
}

function applyState(snapshotOrPatch) {
  for (const op of snapshotOrPatch) {
    const { path, value } = op;
    if (path === "/zoe/stage") $("stage").textContent = value;
    else if (path === "/zoe/route") {
      $("route").textContent = `${value.kind}${value.fastPath ? " (fast path)" : ""}`;
      $("model").textContent = value.model;
      $("reason").textContent = `${value.reason}${value.cached ? " · from cache" : ""}`;
    } else if (path.startsWith("/zoe/providers/")) showProvider(path.slice(15).replace(/~1/g, "/").replace(/~0/g, "~"), value);
  }
}

function showChoices(toolCall) {
  let args = {};
  try { args = JSON.parse(toolCall.function.arguments); } catch {}
  const box = $("choices");
  box.replaceChildren();
  if (args.question) addBubble("assistant", args.question);
  for (const option of args.options ?? []) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = option;
    button.addEventListener("click", () => {
      box.hidden = true;
      addBubble("user", option);
      messages.push({ id: crypto.randomUUID(), role: "tool", toolCallId: toolCall.id, content: option });
      run();
    });
    box.append(button);
  }
  box.hidden = false;
}

async function run() {
  resetStatus();
  controller = new AbortController();
  $("stop").disabled = false;
  $("send").disabled = true;
  const input = { threadId, runId: crypto.randomUUID(), messages, tools, context: [], state: {}, forwardedProps: {} };
  let bubble = null;
  let text = "";
  const toolCalls = new Map();
  try {
    const response = await fetch("/api/agent", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(input),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error((await response.json()).error?.message ?? response.statusText);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (!data) continue; // heartbeat comment
        const event = JSON.parse(data);
        switch (event.type) {
          case "STATE_SNAPSHOT":
            $("stage").textContent = event.snapshot?.zoe?.stage ?? "";
            for (const [name, info] of Object.entries(event.snapshot?.zoe?.providers ?? {})) showProvider(name, info);
            break;
          case "STATE_DELTA":
            applyState(event.delta);
            break;
          case "TEXT_MESSAGE_START":
            bubble = addBubble("assistant");
            text = "";
            break;
          case "TEXT_MESSAGE_CONTENT":
            text += event.delta;
            bubble.textContent = text;
            break;
          case "TEXT_MESSAGE_END":
            messages.push({ id: event.messageId, role: "assistant", content: text });
            break;
          case "TOOL_CALL_START": {
            const call = { id: event.toolCallId, type: "function", function: { name: event.toolCallName, arguments: "" } };
            toolCalls.set(call.id, call);
            const li = document.createElement("li");
            li.id = `tool-${call.id}`;
            li.textContent = `${call.function.name}(…)`;
            $("tools").append(li);
            break;
          }
          case "TOOL_CALL_ARGS":
            toolCalls.get(event.toolCallId).function.arguments += event.delta;
            break;
          case "TOOL_CALL_END": {
            const call = toolCalls.get(event.toolCallId);
            document.getElementById(`tool-${call.id}`).textContent = `${call.function.name}(${call.function.arguments})`;
            break;
          }
          case "TOOL_CALL_RESULT": {
            const li = document.getElementById(`tool-${event.toolCallId}`);
            if (li) li.textContent += ` → ${event.content}`;
            break;
          }
          case "RUN_FINISHED": {
            const m = event.result?.metrics;
            if (m) {
              $("ttft").textContent = m.ttftMs !== undefined ? `${Math.round(m.ttftMs)} ms` : "—";
              $("tps").textContent = m.tokensPerSecond !== undefined ? `${Math.round(m.tokensPerSecond)}` : "—";
              $("total").textContent = `${Math.round(m.totalMs)} ms`;
            }
            if (event.outcome?.type === "cancelled") $("stage").textContent = "stopped";
            for (const id of event.outcome?.pendingToolCallIds ?? []) {
              const call = toolCalls.get(id);
              if (!call) continue;
              messages.push({ id: crypto.randomUUID(), role: "assistant", toolCalls: [call] });
              if (call.function.name === "offer_choices") showChoices(call);
            }
            break;
          }
          case "RUN_ERROR":
            $("error").textContent = `${event.code}: ${event.message}`;
            $("error").hidden = false;
            $("stage").textContent = "error";
            break;
        }
      }
    }
  } catch (error) {
    if (error.name === "AbortError") {
      $("stage").textContent = "stopped";
      bubble?.classList.add("cancelled");
    } else {
      $("error").textContent = String(error.message ?? error);
      $("error").hidden = false;
    }
  } finally {
    controller = null;
    $("stop").disabled = true;
    $("send").disabled = false;
  }
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("message").value.trim();
  if (!text || controller) return;
  $("message").value = "";
  $("choices").hidden = true;
  addBubble("user", text);
  messages.push({ id: crypto.randomUUID(), role: "user", content: text });
  run();
});
$("stop").addEventListener("click", () => controller?.abort());

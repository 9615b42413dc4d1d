/**
 * The run panel: what zoe did for the current turn. Route, model and reason and each context
 * provider come from the `zoe` object in the AG-UI state (STATE_SNAPSHOT, then STATE_DELTA
 * patches that @ag-ui/client applies); the timings from the `zoe.metrics` CUSTOM event (and
 * RUN_FINISHED.result.metrics); tool calls from the agent's messages.
 */
import type { RunMetrics, ZoeState } from "zoe-pipeline/client";
import { prettyJson } from "./conversation.js";

/** What the header pill shows: zoe's stages, and how a run can end on this page. */
export type Stage = "idle" | ZoeState["stage"] | "stopped" | "error" | "rejected";

export interface PanelToolCall {
  id: string;
  name: string;
  arguments: string;
  result: string | undefined;
  /** Waiting for the user (a frontend tool such as offer_choices). */
  waiting: boolean;
}

const $ = (id: string) => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from index.html`);
  return node;
};

/** 0.4 ms, 12 ms, 1.3 s */
export function formatMs(ms: number): string {
  if (ms < 10) return `${Math.round(ms * 10) / 10} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${Math.round(ms / 100) / 10} s`;
}

const li = (className: string, text?: string) => {
  const item = document.createElement("li");
  item.className = className;
  if (text !== undefined) item.textContent = text;
  return item;
};
const span = (className: string, text: string) => {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  return s;
};

const RESULT_CHARS = 600;

/** A tool call's arguments as `key: value` lines (JSON text that does not parse is shown as is). */
function argumentsList(json: string): HTMLElement {
  let value: unknown;
  try {
    value = JSON.parse(json || "{}");
  } catch {
    const pre = document.createElement("pre");
    pre.textContent = json;
    return pre;
  }
  const dl = document.createElement("dl");
  dl.className = "args";
  const entries =
    typeof value === "object" && value !== null && !Array.isArray(value) ? Object.entries(value) : [["value", value] as const];
  for (const [key, v] of entries) {
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.textContent =
      typeof v === "string"
        ? v
        : Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null)
          ? v.join(", ")
          : JSON.stringify(v);
    dl.append(dt, dd);
  }
  if (entries.length === 0) dl.append(Object.assign(document.createElement("dd"), { textContent: "(no arguments)" }));
  return dl;
}

export class RunPanel {
  private readonly details = $("run") as HTMLDetailsElement;
  private stageValue: Stage = "idle";
  private route = "";
  private model = "";
  private ttft = "";

  constructor() {
    // Wide screens show the panel beside the chat, always open; narrow ones fold it into a bar
    // above the chat that opens in place (it never covers the conversation or the composer).
    const wide = window.matchMedia("(min-width: 900px)");
    const fit = () => {
      this.details.open = wide.matches;
    };
    wide.addEventListener("change", fit);
    fit();
  }

  /** A new run: forget the previous one. */
  reset(): void {
    for (const id of ["route", "model", "reason", "ttft", "tps", "tokens", "total"]) $(id).textContent = "—";
    $("providers").replaceChildren(li("muted", "waiting for the route…"));
    $("tools").replaceChildren(li("muted", "none in this run"));
    $("stages").replaceChildren();
    $("error").hidden = true;
    this.route = this.model = this.ttft = "";
    this.setStage("route");
  }

  setStage(stage: Stage): void {
    this.stageValue = stage;
    const pill = $("stage");
    pill.textContent = stage;
    pill.dataset.stage = stage;
    this.brief();
  }

  get stage(): Stage {
    return this.stageValue;
  }

  /**
   * The `zoe` object of the AG-UI state, after a snapshot or a patch (the page calls it only while
   * a run is in progress). The pill follows the run's stages but never says "done" on its own: the
   * page sets every final stage once the run has ended and its conversation is drawn.
   */
  showState(zoe: ZoeState): void {
    if (zoe.stage !== "done") this.setStage(zoe.stage);
    if (zoe.route) {
      const { kind, model, reason, fastPath, cached, fallback } = zoe.route;
      const route = $("route");
      route.replaceChildren(span("route-kind", kind));
      if (fastPath) route.append(span("badge fast", "fast path"));
      if (cached) route.append(span("badge", "cached"));
      if (fallback) route.append(span("badge warn", "fallback"));
      $("model").textContent = model;
      $("reason").textContent = fallback ? `${reason} (fallback: ${fallback})` : reason;
      this.route = kind;
      this.model = model;
    }
    const providers = Object.entries(zoe.providers);
    const list = $("providers");
    if (providers.length === 0) {
      list.replaceChildren(li("muted", zoe.route?.fastPath ? "none: fast path" : "none"));
    } else {
      list.replaceChildren(
        ...providers.map(([name, p]) => {
          const item = li(`provider ${p.status}`);
          item.dataset.name = name;
          item.dataset.status = p.status;
          item.append(span("name", name), span(`badge ${p.status}`, p.status), span("ms", p.ms === undefined ? "…" : formatMs(p.ms)));
          if (p.error) item.title = p.error;
          return item;
        }),
      );
    }
    this.brief();
  }

  /** The run's metrics (the `zoe.metrics` event, or RUN_FINISHED's result). */
  showMetrics(m: RunMetrics): void {
    this.ttft = m.ttftMs === undefined ? "" : formatMs(m.ttftMs);
    $("ttft").textContent = m.ttftMs === undefined ? "—" : formatMs(m.ttftMs);
    $("tps").textContent = m.tokensPerSecond === undefined ? "—" : String(Math.round(m.tokensPerSecond * 10) / 10);
    $("tokens").textContent = m.tokens.input === undefined ? `${m.tokens.output} out` : `${m.tokens.input} in · ${m.tokens.output} out`;
    $("total").textContent = formatMs(m.totalMs);
    const stages: Array<[string, number]> = [
      ["cache", m.stages.cacheReadMs],
      ["route", m.stages.routeMs],
      ["context", m.stages.contextMs],
      ["prompt", m.stages.promptMs],
      ["generate", m.stages.generateMs],
    ];
    const longest = Math.max(1, ...stages.map(([, ms]) => ms));
    $("stages").replaceChildren(
      ...stages.map(([name, ms]) => {
        const item = li("stage-row");
        const bar = span("bar", "");
        bar.style.setProperty("--share", String(Math.max(0.02, ms / longest)));
        item.append(span("stage-name", name), bar, span("ms", formatMs(ms)));
        return item;
      }),
    );
    this.brief();
  }

  showToolCalls(calls: readonly PanelToolCall[]): void {
    const list = $("tools");
    if (calls.length === 0) {
      list.replaceChildren(li("muted", "none in this run"));
      return;
    }
    list.replaceChildren(
      ...calls.map((call) => {
        const item = li("tool");
        item.dataset.tool = call.name;
        const head = document.createElement("div");
        head.className = "tool-head";
        const name = document.createElement("code");
        name.textContent = call.name;
        const status = call.result !== undefined ? "done" : call.waiting ? "waiting for you" : "running";
        head.append(name, span(`badge ${call.result !== undefined ? "ok" : "pending"}`, status));
        item.append(head, argumentsList(call.arguments));
        if (call.result !== undefined) {
          const result = document.createElement("div");
          result.className = "result";
          const pre = document.createElement("pre");
          const text = prettyJson(call.result);
          pre.textContent = text.length > RESULT_CHARS ? `${text.slice(0, RESULT_CHARS)}…` : text;
          result.append(span("label", "Result"), pre);
          item.append(result);
        }
        return item;
      }),
    );
  }

  showError(text: string): void {
    const error = $("error");
    error.textContent = text;
    error.hidden = false;
  }

  /** The one-line summary on the folded panel (narrow screens). */
  private brief(): void {
    const parts: string[] = [this.stageValue];
    if (this.route) parts.push(this.route);
    if (this.model) parts.push(this.model);
    if (this.ttft) parts.push(`first token ${this.ttft}`);
    $("run-brief").textContent = parts.join(" · ");
  }
}

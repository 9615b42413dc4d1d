import { timerMs } from "../shared/timer.js";

/** A model as `/api/ps` lists it. */
export interface LoadedModel {
  name: string;
  model?: string;
  /** ms since the epoch, when the server reports it. */
  expiresAt?: number;
}

/** What the refresher needs from its backend. */
export interface RefresherDeps {
  marginMs: number;
  /** Only these models (normalised names), or every model touched. */
  models: ReadonlySet<string> | undefined;
  /** The keep-alive of a model, ms (Infinity: forever). */
  keepAliveMs(model: string): number;
  /** `/api/ps`; rejects when the server does not answer. */
  ps(): Promise<LoadedModel[]>;
  /** Re-warm a model (a pre-warm that never throws; it touches the model again on success). */
  warm(model: string): Promise<unknown>;
}

/**
 * One spelling for one model, as `/api/ps` shows it: Ollama's `DisplayShortest`
 * (`types/model/name.go`), so `llama3.2`, `llama3.2:latest`, `library/llama3.2` and
 * `registry.ollama.ai/library/llama3.2:latest` are one model; lower-cased, as Ollama matches each
 * part of a name case-insensitively (`server/routes.go` `getExistingName`).
 */
export function normaliseModelName(name: string): string {
  let rest = name.trim();
  let tag = "latest";
  if (rest.lastIndexOf(":") > rest.lastIndexOf("/")) {
    tag = rest.slice(rest.lastIndexOf(":") + 1) || "latest";
    rest = rest.slice(0, rest.lastIndexOf(":"));
  }
  const parts = rest.split("/");
  const model = parts.pop() ?? "";
  const namespace = parts.pop() || "library";
  let host = parts.join("/") || "registry.ollama.ai";
  if (host.includes("://")) host = host.slice(host.indexOf("://") + 3);
  const prefix =
    host.toLowerCase() !== "registry.ollama.ai" ? `${host}/${namespace}/` : namespace.toLowerCase() !== "library" ? `${namespace}/` : "";
  return `${prefix}${model}:${tag}`.toLowerCase();
}

/** How long before expiry a model is re-warmed: the margin, or half the keep-alive when shorter. */
export function refreshMargin(keepAliveMs: number, marginMs: number): number {
  return marginMs < keepAliveMs ? marginMs : keepAliveMs / 2;
}

/**
 * Keeps models loaded: after every use (a finished answer or a pre-warm) a model's timer is
 * set to fire `margin` before its keep-alive runs out. When it fires, `/api/ps` is read: a model
 * still loaded is re-warmed (which re-arms the timer); a model that is gone (evicted for
 * another, stopped, or expired) is left alone until it is used again, so two models that do not
 * fit together are never loaded in turns. When someone else extended the expiry, the timer is
 * moved. Timers are `unref()`ed: they never keep the process alive.
 */
export class KeepAliveRefresher {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private stopped = false;

  constructor(private readonly deps: RefresherDeps) {}

  /** Models with a refresh pending (normalised names). */
  get scheduled(): string[] {
    return [...this.timers.keys()];
  }

  /** A model was used now. */
  touch(model: string): void {
    const name = normaliseModelName(model);
    if (this.stopped || (this.deps.models && !this.deps.models.has(name))) return;
    const keepAlive = this.deps.keepAliveMs(model);
    if (!(keepAlive > 0 && Number.isFinite(keepAlive))) return;
    this.schedule(model, keepAlive - refreshMargin(keepAlive, this.deps.marginMs));
  }

  /** Stop every timer; later touches are ignored. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(model: string, delayMs: number): void {
    const name = normaliseModelName(model);
    const previous = this.timers.get(name);
    if (previous) clearTimeout(previous);
    const timer = setTimeout(
      () => {
        if (this.timers.get(name) === timer) this.timers.delete(name);
        void this.fire(model).catch(() => {});
      },
      timerMs(Math.max(1, delayMs)),
    );
    timer.unref();
    this.timers.set(name, timer);
  }

  private async fire(model: string): Promise<void> {
    if (this.stopped) return;
    const name = normaliseModelName(model);
    let loaded: LoadedModel[] | undefined;
    try {
      loaded = await this.deps.ps();
    } catch {
      loaded = undefined; // no answer: try the warm-up, which reports its own failure
    }
    if (this.stopped) return;
    if (loaded) {
      const entry = loaded.find(
        (m) => normaliseModelName(m.name) === name || (m.model !== undefined && normaliseModelName(m.model) === name),
      );
      if (!entry) return;
      const keepAlive = this.deps.keepAliveMs(model);
      const margin = refreshMargin(keepAlive, this.deps.marginMs);
      if (entry.expiresAt !== undefined && Number.isFinite(keepAlive)) {
        const left = entry.expiresAt - Date.now();
        // Extended by another request in the meantime (within reason: clocks may differ).
        if (left > margin * 1.5 && left <= keepAlive + margin) {
          this.schedule(model, left - margin);
          return;
        }
      }
    }
    await this.deps.warm(model);
  }
}

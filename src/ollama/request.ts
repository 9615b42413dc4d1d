import { Ollama } from "ollama";
import {
  BackendClosedError,
  BackendUnreachableError,
  FirstTokenTimeoutError,
  IdleTimeoutError,
  LoadTimeoutError,
  OllamaError,
  StreamError,
  StreamIncompleteError,
  httpFailure,
  requestFailure,
  streamFailure,
  type OllamaErrorContext,
} from "./errors.js";

/** Why a request's controller was aborted. */
export type AbortKind = "caller" | DeadlineKind | "closed" | "done";

/** The deadlines a wait can have. */
export type DeadlineKind = "first-token" | "load" | "idle" | "deadline";

/** A deadline: wait `ms`; a failure at its end reports `reportMs` (default `ms`) as the limit. */
export interface Deadline {
  kind: DeadlineKind;
  ms: number;
  reportMs?: number;
}

/** Asked when a deadline passes: another deadline to wait for instead, or `undefined` to give up. */
export type OnDeadline = (kind: DeadlineKind) => Promise<Deadline | undefined>;

/** What every request needs from its backend. */
export interface RequestDeps {
  host: string;
  headers: Record<string, string> | undefined;
  fetch: typeof fetch;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  /** Requests in flight, aborted by `close()`. */
  inflight: Set<OllamaRequest>;
}

const ERROR_LINE = /^\s*\{\s*"error"\s*:/;

/**
 * One HTTP request to Ollama with its own AbortController. The `ollama` client gets a `fetch`
 * that swaps in this request's signal, so aborting cancels exactly this request (the client's
 * own `abort()` would cancel every stream of the client instance). A client object is created
 * per request: it only holds the host, the headers and the fetch. The response body passes
 * through an observer that tells apart an error line, a dropped connection and a clean end.
 */
export class OllamaRequest {
  readonly controller = new AbortController();
  readonly model: string | undefined;
  private abortKind: AbortKind | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedMs = 0;
  private gotResponse = false;
  private errorLine: string | undefined;
  private bodyEnded = false;
  private bodyFailed = false;
  private bodyError: unknown;
  private readonly removeCallerListener: () => void;
  private readonly context: OllamaErrorContext;

  constructor(
    private readonly deps: RequestDeps,
    model: string | undefined,
    private readonly callerSignal?: AbortSignal,
  ) {
    this.model = model;
    this.context = { host: deps.host, ...(model === undefined ? {} : { model }) };
    if (callerSignal) {
      const onAbort = () => this.abort("caller", callerSignal.reason);
      if (callerSignal.aborted) onAbort();
      else callerSignal.addEventListener("abort", onAbort, { once: true });
      this.removeCallerListener = () => callerSignal.removeEventListener("abort", onAbort);
    } else {
      this.removeCallerListener = () => {};
    }
    deps.inflight.add(this);
  }

  /** A client bound to this request. */
  client(): Ollama {
    return new Ollama({
      host: this.deps.host,
      fetch: this.fetch,
      ...(this.deps.headers ? { headers: this.deps.headers } : {}),
    });
  }

  /** Abort this request (once); `kind` decides the error the pending read turns into. */
  abort(kind: AbortKind, reason?: unknown): void {
    if (this.controller.signal.aborted) return;
    this.abortKind = kind;
    this.controller.abort(reason ?? new DOMException(`The Ollama request was aborted (${kind}).`, "AbortError"));
  }

  /**
   * Wait for `work` under a deadline: when it passes, `onDeadline` (if any) may set another one
   * (a model found loading gets its load deadline); otherwise the request is aborted and the wait
   * fails with the error of the deadline's kind. Any failure comes out classified.
   */
  async within<T>(kind: DeadlineKind, ms: number, work: () => Promise<T>, onDeadline?: OnDeadline, reportMs?: number): Promise<T> {
    let settled = false;
    const arm = (k: DeadlineKind, after: number, report = after) => {
      this.armedMs = report;
      const timer = setTimeout(() => void fire(k, timer), after);
      this.timer = timer;
    };
    const fire = async (k: DeadlineKind, timer: ReturnType<typeof setTimeout>) => {
      if (this.timer !== timer || settled) return;
      this.timer = undefined;
      let next: Awaited<ReturnType<OnDeadline>>;
      try {
        next = onDeadline ? await onDeadline(k) : undefined;
      } catch {
        next = undefined;
      }
      if (settled) return;
      if (next) arm(next.kind, next.ms, next.reportMs);
      else this.abort(k);
    };
    arm(kind, ms, reportMs);
    try {
      return await work();
    } catch (error) {
      throw this.classify(error);
    } finally {
      settled = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Release: stop the deadline, forget the caller's signal, close the HTTP request if still open. */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.removeCallerListener();
    this.abort("done");
    this.deps.inflight.delete(this);
  }

  /** Turn whatever a read threw into the error callers see. */
  classify(error: unknown): unknown {
    const ctx = { ...this.context, cause: error };
    switch (this.abortKind) {
      case "caller":
        return this.callerSignal?.reason ?? error;
      case "first-token":
        return new FirstTokenTimeoutError({ ...ctx, timeoutMs: this.armedMs });
      case "load":
        return new LoadTimeoutError({ ...ctx, timeoutMs: this.armedMs });
      case "idle":
        return new IdleTimeoutError({ ...ctx, timeoutMs: this.armedMs });
      case "deadline":
        return new BackendUnreachableError({ ...ctx, reason: `no answer within ${this.armedMs} ms` });
      case "closed":
      case "done":
        return new BackendClosedError(ctx);
      case undefined:
        break;
    }
    if (error instanceof OllamaError) return error;
    if (!this.gotResponse) return requestFailure(error, this.context);
    if (this.errorLine !== undefined) return new StreamError({ ...ctx, serverMessage: this.errorLine });
    if (this.bodyFailed) return streamFailure(this.bodyError, this.context);
    if (this.bodyEnded) return new StreamIncompleteError(ctx);
    return new StreamError({ ...ctx, serverMessage: error instanceof Error ? error.message : String(error) });
  }

  private readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // The client passes its own signal for streams; ours replaces it (nothing aborts the client's).
    let response: Response;
    try {
      response = await this.deps.fetch(input, { ...init, signal: this.controller.signal });
    } catch (error) {
      throw this.controller.signal.aborted ? error : requestFailure(error, this.context);
    }
    this.gotResponse = true;
    if (!response.ok) {
      let body = "";
      try {
        body = await response.text();
      } catch {
        // the status alone will do
      }
      throw httpFailure(response.status, body, this.context);
    }
    if (!response.body) return response;
    return new Response(this.observe(response.body), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };

  private observe(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let partial = "";
    const scan = (text: string, flush: boolean) => {
      partial += text;
      const lines = partial.split("\n");
      partial = flush ? "" : (lines.pop() ?? "");
      for (const line of lines) {
        if (this.errorLine !== undefined || !ERROR_LINE.test(line)) continue;
        try {
          const parsed = JSON.parse(line) as { error?: unknown };
          this.errorLine = typeof parsed.error === "string" ? parsed.error : JSON.stringify(parsed.error);
        } catch {
          // not JSON after all
        }
      }
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let step: Awaited<ReturnType<typeof reader.read>>;
        try {
          step = await reader.read();
        } catch (error) {
          this.bodyFailed = true;
          this.bodyError = error;
          controller.error(error);
          return;
        }
        if (step.done) {
          scan(decoder.decode(), true);
          this.bodyEnded = true;
          controller.close();
          return;
        }
        scan(decoder.decode(step.value, { stream: true }), false);
        controller.enqueue(step.value);
      },
      cancel: (reason) => reader.cancel(reason).catch(() => {}),
    });
  }
}

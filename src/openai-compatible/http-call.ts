import { readErrorBody } from "../shared/error-body.js";
import { OpenAiCompatibleError, httpFailure, requestFailure, streamFailure, type OpenAiCompatibleErrorContext } from "./errors.js";
import { timerMs } from "../shared/timer.js";

/** Why a call's controller was aborted. */
export type AbortKind = "caller" | "first-token" | "load" | "idle" | "deadline" | "closed" | "done";

/** What every call needs from its backend. */
export interface CallDeps {
  baseURL: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  /** Calls in flight, aborted by `close()`. */
  inflight: Set<HttpCall>;
}

/** What a wait's deadline stands for: the error it becomes when it passes. */
export type DeadlineKind = "first-token" | "load" | "idle" | "deadline";

/** A later deadline: its kind, when it passes (`performance.now()` time), and the length its error names. */
export interface DeadlineExtension {
  kind: DeadlineKind;
  by: number;
  deadlineMs: number;
}

/** Asked when a deadline passes: a later deadline to wait for instead, or undefined to fail now. */
export type OnDeadline = () => Promise<DeadlineExtension | undefined>;

/**
 * One HTTP request with its own AbortController, linked to the caller's signal: aborting the
 * caller's signal, a deadline, `close()` or `dispose()` closes exactly this connection (the
 * platform's fetch cancels the body and the socket). Every wait goes through {@link within},
 * which arms a deadline only while waiting for the server, and classifies what failed.
 */
export class HttpCall {
  readonly controller = new AbortController();
  private abortKind: AbortKind | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedMs = 0;
  /**
   * The answer of `onDeadline`, asked once per call when a deadline first passes: every wait of the
   * call whose deadline passes meets it (a wait armed while it was still being asked, with the
   * deadline that had passed, waits for it too).
   */
  private extension: Promise<DeadlineExtension | undefined> | undefined;
  /** The server answered with headers. */
  private gotResponse = false;
  private readonly removeCallerListener: () => void;
  readonly context: OpenAiCompatibleErrorContext;

  constructor(
    private readonly deps: CallDeps,
    readonly model: string | undefined,
    private readonly callerSignal?: AbortSignal,
  ) {
    this.context = { baseURL: deps.baseURL, ...(model === undefined ? {} : { model }) };
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

  /** Abort this call (once); `kind` decides the error a pending wait turns into. */
  abort(kind: AbortKind, reason?: unknown): void {
    if (this.controller.signal.aborted) return;
    this.abortKind = kind;
    this.controller.abort(reason ?? new DOMException(`The request was aborted (${kind}).`, "AbortError"));
  }

  /**
   * Wait for `work` under a deadline of `ms`: when it passes, the call is aborted and the wait
   * fails with the error of `kind` (naming `label.deadlineMs`, default `ms`). A `label.onDeadline`
   * is asked first, once per call, when a deadline passes: a later deadline it gives (a model that
   * turns out to be loading gets the load deadline) is armed instead, by every wait it is still
   * ahead of. Any failure comes out classified.
   */
  async within<T>(
    kind: DeadlineKind,
    ms: number,
    work: () => Promise<T>,
    label: { deadlineMs?: number; onDeadline?: OnDeadline } = {},
  ): Promise<T> {
    // A deadline spread over several waits reports its whole length, not what was left of it.
    this.armedMs = label.deadlineMs ?? timerMs(Math.max(1, Math.round(ms)));
    const arm = (kindNow: DeadlineKind, msNow: number): ReturnType<typeof setTimeout> => {
      const timer = setTimeout(
        () => {
          if (this.timer !== timer) return;
          const ask = label.onDeadline;
          if (!ask) return this.abort(kindNow);
          this.extension ??= ask().catch(() => undefined);
          void this.extension.then((next) => {
            if (this.timer !== timer) return;
            const left = next ? next.by - performance.now() : 0;
            if (!next || left < 1) return this.abort(next?.kind ?? kindNow);
            this.armedMs = next.deadlineMs;
            this.timer = arm(next.kind, left);
          });
        },
        timerMs(Math.max(1, Math.round(msNow))),
      );
      return timer;
    };
    this.timer = arm(kind, ms);
    try {
      if (this.controller.signal.aborted) throw this.controller.signal.reason;
      return await work();
    } catch (error) {
      throw this.classify(error);
    } finally {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * `POST`/`GET` `{baseURL}{path}`. Resolves with a 2xx response; an error status is read and
   * thrown as a typed error. Use inside {@link within}.
   */
  async send(path: string, body?: unknown, accept = "application/json"): Promise<Response> {
    let response: Response;
    try {
      response = await this.deps.fetch(`${this.deps.baseURL}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: {
          Accept: accept,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          ...this.deps.headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: this.controller.signal,
      });
    } catch (error) {
      throw this.controller.signal.aborted ? error : requestFailure(error, this.context);
    }
    this.gotResponse = true;
    if (!response.ok) {
      let text = "";
      try {
        text = await readErrorBody(response);
      } catch (error) {
        if (this.controller.signal.aborted) throw error;
        // the status alone will do
      }
      throw httpFailure(response.status, text, this.context);
    }
    return response;
  }

  /** Release: stop the deadline, forget the caller's signal, close the connection if still open. */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.removeCallerListener();
    this.abort("done");
    this.deps.inflight.delete(this);
  }

  /** Turn whatever a wait threw into the error callers see. */
  classify(error: unknown): unknown {
    const ctx: OpenAiCompatibleErrorContext = { ...this.context, cause: error };
    switch (this.abortKind) {
      case "caller":
        return this.callerSignal?.reason ?? error;
      case "first-token":
        return new OpenAiCompatibleError("FIRST_TOKEN_TIMEOUT", { ...ctx, timeoutMs: this.armedMs });
      case "load":
        return new OpenAiCompatibleError("LOAD_TIMEOUT", { ...ctx, timeoutMs: this.armedMs });
      case "idle":
        return new OpenAiCompatibleError("IDLE_TIMEOUT", { ...ctx, timeoutMs: this.armedMs });
      case "deadline":
        return new OpenAiCompatibleError("BACKEND_UNREACHABLE", { ...ctx, reason: `no answer within ${this.armedMs} ms` });
      case "closed":
      case "done":
        return new OpenAiCompatibleError("BACKEND_CLOSED", ctx);
      case undefined:
        break;
    }
    if (error instanceof OpenAiCompatibleError) return error;
    if (!this.gotResponse) return requestFailure(error, this.context);
    return streamFailure(error, this.context);
  }
}

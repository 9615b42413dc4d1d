import {
  BackendClosedError,
  BackendUnreachableError,
  FirstTokenTimeoutError,
  IdleTimeoutError,
  LoadTimeoutError,
  OllamaError,
  StreamError,
  UnexpectedResponseError,
  httpFailure,
  requestFailure,
  streamFailure,
  type OllamaErrorContext,
} from "./errors.js";
import { readErrorBody } from "../shared/error-body.js";
import { MAX_TIMER_MS } from "../shared/timer.js";

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

/** What every request needs from its backend, made once per backend. */
export interface RequestDeps {
  /** The server as the options gave it (errors name it). */
  host: string;
  /** The URL the paths are appended to (`ollama-js` `formatHost`), made once. */
  baseUrl: string;
  /** Headers of every request, made once. */
  headers: Record<string, string>;
  fetch: typeof fetch;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  /** Requests in flight, aborted by `close()`. */
  inflight: Set<OllamaRequest>;
}

/** One line of an NDJSON answer. */
export type Line = Record<string, unknown>;

/** A timer may fire this much before the deadline it was set for (the loop's clock is coarser). */
const EARLY_MS = 1;
/**
 * The longest line of an answer, in characters: a chunk is a token or a tool call, far shorter. A
 * server (or something posing as one) that sends more without a line end fails the request
 * rather than filling the process's memory.
 */
export const MAX_LINE_CHARS = 8 * 1024 * 1024;
/** How much of a web page answered instead of a stream is read for the error's message. */
const PAGE_START_BYTES = 1024;
/** The reason of a request left before its end: one object, as a DOMException costs a stack trace. */
const LEFT_EARLY = new DOMException("The Ollama request was closed: its answer was no longer read.", "AbortError");

/** The URL prefix of a host, as the `ollama` client builds it (`ollama-js` `src/utils.ts` `formatHost`). */
export function formatHost(host: string): string {
  let isExplicitProtocol = host.includes("://");
  if (host.startsWith(":")) {
    host = `http://127.0.0.1${host}`;
    isExplicitProtocol = true;
  }
  if (!isExplicitProtocol) host = `http://${host}`;
  const url = new URL(host);
  let port = url.port;
  if (!port) port = !isExplicitProtocol ? "11434" : url.protocol === "https:" ? "443" : "80";
  let auth = "";
  if (url.username) auth = `${url.username}${url.password ? `:${url.password}` : ""}@`;
  const formatted = `${url.protocol}//${auth}${url.hostname}:${port}${url.pathname}`;
  return formatted.endsWith("/") ? formatted.slice(0, -1) : formatted;
}

/**
 * The headers of every request, as the `ollama` client sends them (`ollama-js` `src/utils.ts`
 * `fetchWithHeaders`): JSON both ways, the caller's headers, and `OLLAMA_API_KEY` as a bearer
 * token for `https://ollama.com` when no `Authorization` is given.
 */
export function requestHeaders(baseUrl: string, custom: Record<string, string> | undefined): Record<string, string> {
  const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "application/json" };
  for (const [key, value] of Object.entries(custom ?? {})) {
    const lower = key.toLowerCase();
    if (lower !== "content-type" && lower !== "accept") headers[key] = value;
  }
  const hasAuth = Object.keys(headers).some((k) => k.toLowerCase() === "authorization");
  const apiKey = typeof process === "object" ? process.env?.OLLAMA_API_KEY : undefined;
  try {
    const url = new URL(baseUrl);
    if (url.protocol === "https:" && url.hostname === "ollama.com" && !hasAuth && apiKey) headers.Authorization = `Bearer ${apiKey}`;
  } catch {
    // formatHost made it; a URL it cannot parse fails at the first request
  }
  return headers;
}

/**
 * One HTTP request to Ollama: one AbortController, one deadline timer, and the NDJSON reader of
 * its answer. The request is aborted only when its answer was not read to the end (the consumer
 * left, a deadline passed, the caller aborted, the backend closed): an answer read to its final
 * line is never aborted, so its connection goes back to the keep-alive pool.
 *
 * Deadlines cost one timer per request: each wait moves the deadline (`deadlineAt`), and the
 * timer, when it fires, re-arms itself for whatever is left, so a chunk costs no timer call.
 */
export class OllamaRequest {
  private readonly controller = new AbortController();
  readonly model: string | undefined;
  private abortKind: AbortKind | undefined;
  // ---- the deadline ----
  private deadlineAt = Number.POSITIVE_INFINITY;
  private deadlineKind: DeadlineKind = "deadline";
  private reportMs = 0;
  private onDeadline: OnDeadline | undefined;
  /** Bumped by every arm and disarm: a deadline check that awaited `onDeadline` sees whether its wait is still the current one. */
  private wait = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  // ---- the answer ----
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private decoder: InstanceType<typeof TextDecoder> | undefined;
  /** Text read and not yet taken: whole lines from `pos`, then the start of the next line. */
  private buffer = "";
  private pos = 0;
  /** The rest of an unfinished line, kept in pieces until its end arrives (joined once, not rescanned at every read). */
  private pieces: string[] = [];
  private piecesLength = 0;
  private eof = false;
  /** A JSON line was read. */
  private sawJson = false;
  /** The start of the first line skipped because it is not JSON, while no JSON line has been read. */
  private skipped: string | undefined;
  /** The last line was read (`done`, or an error line): what follows is only the end of the body. */
  private lastLine = false;
  /** Nothing is left to read or to abort. */
  private finished = false;
  private disposed = false;

  constructor(
    private readonly deps: RequestDeps,
    model: string | undefined,
    private readonly callerSignal?: AbortSignal,
  ) {
    this.model = model;
    if (callerSignal) {
      if (callerSignal.aborted) this.abort("caller", callerSignal.reason);
      else callerSignal.addEventListener("abort", this.onCallerAbort, { once: true });
    }
    deps.inflight.add(this);
  }

  private readonly onCallerAbort = () => this.abort("caller", this.callerSignal?.reason);

  /** Abort this request (once); `kind` decides the error the pending wait turns into. */
  abort(kind: AbortKind, reason?: unknown): void {
    if (this.abortKind !== undefined || this.finished) return;
    this.abortKind = kind;
    this.deadlineAt = Number.POSITIVE_INFINITY;
    this.controller.abort(
      reason ?? (kind === "done" ? LEFT_EARLY : new DOMException(`The Ollama request was aborted (${kind}).`, "AbortError")),
    );
  }

  // ---- deadlines ----

  /** Start a wait that fails at `ms` from now (no deadline when `ms` is infinite or too long for a timer). */
  private arm(kind: DeadlineKind, ms: number, reportMs = ms, onDeadline?: OnDeadline): void {
    this.wait++;
    this.deadlineKind = kind;
    this.reportMs = reportMs;
    this.onDeadline = onDeadline;
    if (!(ms <= MAX_TIMER_MS)) {
      this.deadlineAt = Number.POSITIVE_INFINITY;
      return;
    }
    const now = performance.now();
    this.deadlineAt = now + ms;
    // The first timer fires no later than one idle window from now, so that the idle waits that
    // follow (each `idleTimeoutMs` from its own start) never need an earlier one.
    if (this.deadlineAt < this.timerAt) this.schedule(now, Math.min(ms, this.deps.idleTimeoutMs));
  }

  /** The wait is over: the timer, if it fires, finds nothing to do. */
  private disarm(): void {
    this.wait++;
    this.deadlineAt = Number.POSITIVE_INFINITY;
  }

  private schedule(now: number, ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    const delay = Math.max(1, Math.min(ms, MAX_TIMER_MS));
    this.timerAt = now + delay;
    this.timer = setTimeout(this.fire, delay);
  }

  private readonly fire = () => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.deadlineAt === Number.POSITIVE_INFINITY || this.abortKind !== undefined) return;
    const now = performance.now();
    const left = this.deadlineAt - now;
    if (left > EARLY_MS) return this.schedule(now, left);
    void this.passed();
  };

  private async passed(): Promise<void> {
    const wait = this.wait;
    const kind = this.deadlineKind;
    let next: Deadline | undefined;
    try {
      next = this.onDeadline ? await this.onDeadline(kind) : undefined;
    } catch {
      next = undefined;
    }
    if (wait !== this.wait || this.abortKind !== undefined) return;
    if (next) this.arm(next.kind, next.ms, next.reportMs ?? next.ms, this.onDeadline);
    else this.abort(kind);
  }

  // ---- HTTP ----

  /**
   * Send the request and wait for its headers; an HTTP error status is read and thrown as a typed
   * error. The deadline armed before is left running (for a stream, it goes on to the first line).
   */
  private async send(method: "GET" | "POST", path: string, body?: string): Promise<Response> {
    let response: Response;
    try {
      response = await this.deps.fetch(`${this.deps.baseUrl}${path}`, {
        method,
        headers: { ...this.deps.headers }, // a copy: a custom `fetch` may change it
        ...(body === undefined ? {} : { body }),
        signal: this.controller.signal,
      });
    } catch (error) {
      this.finished = true;
      throw this.failure(error, requestFailure);
    }
    if (!response.ok) {
      let text = "";
      try {
        text = await readErrorBody(response);
      } catch {
        // the status alone will do
      }
      this.finished = true;
      if (this.abortKind !== undefined) throw this.failure(new Error(`HTTP ${response.status}`), requestFailure);
      throw httpFailure(response.status, text, this.context());
    }
    return response;
  }

  /** One JSON call (`/api/ps`, `/api/tags`, `/api/embed`, a load) under one deadline. */
  async json<T>(method: "GET" | "POST", path: string, body: unknown, deadline: Deadline, onDeadline?: OnDeadline): Promise<T> {
    this.arm(deadline.kind, deadline.ms, deadline.reportMs ?? deadline.ms, onDeadline);
    try {
      const response = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body));
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        throw this.failure(error, streamFailure);
      }
      this.finished = true;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new UnexpectedResponseError({ ...this.context(), line: text });
      }
    } finally {
      this.finished = true;
      this.disarm();
    }
  }

  /**
   * Post a streamed request and read its first line, under `deadline` (and `onDeadline` when it
   * passes). `undefined` when the body ends before any line.
   */
  async open(path: string, body: string, deadline: Deadline, onDeadline?: OnDeadline): Promise<Line | undefined> {
    this.arm(deadline.kind, deadline.ms, deadline.reportMs ?? deadline.ms, onDeadline);
    const response = await this.send("POST", path, body);
    if (response.headers.get("content-type")?.includes("text/html")) {
      // A web page (a proxy's or a portal's) where Ollama's NDJSON should be: no line of it can be read.
      let page = "";
      try {
        page = await readErrorBody(response, PAGE_START_BYTES);
      } catch {
        // the content type alone will do
      }
      this.finished = true;
      this.disarm();
      throw new UnexpectedResponseError({ ...this.context(), line: `a text/html page: ${page.trim()}` });
    }
    if (!response.body) {
      this.finished = true;
      this.disarm();
      return undefined;
    }
    this.reader = response.body.getReader();
    this.decoder = new TextDecoder();
    const line = this.take() ?? (await this.read());
    this.disarm();
    return line;
  }

  /**
   * The error to give for an answer that ended without a whole answer: `UNEXPECTED_RESPONSE` when
   * it held text but not one JSON line (not an NDJSON stream at all), else `undefined`.
   */
  unreadable(): UnexpectedResponseError | undefined {
    if (this.sawJson || this.skipped === undefined) return undefined;
    return new UnexpectedResponseError({ ...this.context(), line: this.skipped });
  }

  /**
   * The next line of the answer: from what was already read when it holds one (no wait, no
   * deadline), else read under the idle deadline. `undefined` at the end of the body.
   */
  next(): Line | undefined | Promise<Line | undefined> {
    const line = this.take();
    if (line !== undefined || this.eof) return line;
    this.arm("idle", this.deps.idleTimeoutMs);
    return this.read().finally(() => this.disarm());
  }

  /** Read until a whole line (or the end) is there. */
  private async read(): Promise<Line | undefined> {
    const reader = this.reader as ReadableStreamDefaultReader<Uint8Array>;
    const decoder = this.decoder as InstanceType<typeof TextDecoder>;
    for (;;) {
      let step: Awaited<ReturnType<typeof reader.read>>;
      try {
        step = await reader.read();
      } catch (error) {
        this.finished = true;
        throw this.failure(error, streamFailure);
      }
      if (step.done) {
        this.eof = true;
        this.finished = true;
        this.append(decoder.decode());
        // a last line without its newline
        const rest = (this.buffer.slice(this.pos) + this.pieces.join("")).trim();
        this.buffer = "";
        this.pos = 0;
        this.pieces = [];
        this.piecesLength = 0;
        return rest ? this.parse(rest) : undefined;
      }
      this.append(decoder.decode(step.value, { stream: true }));
      const line = this.take();
      if (line !== undefined) return line;
    }
  }

  /**
   * Add text read from the body. `take()` has taken every whole line before a read, so what is
   * left of `buffer` is the start of one line: text without a line end only joins its pieces.
   */
  private append(text: string): void {
    if (!text) return;
    if (!text.includes("\n")) {
      this.pieces.push(text);
      this.piecesLength += text.length;
      if (this.buffer.length - this.pos + this.piecesLength > MAX_LINE_CHARS) throw this.lineTooLong();
      return;
    }
    const start = this.buffer.slice(this.pos) + (this.piecesLength > 0 ? this.pieces.join("") : "");
    this.pieces = [];
    this.piecesLength = 0;
    this.buffer = start + text;
    this.pos = 0;
  }

  private lineTooLong(): UnexpectedResponseError {
    const start = (this.buffer.slice(this.pos, this.pos + 120) || this.pieces[0] || "").slice(0, 120);
    return new UnexpectedResponseError({
      ...this.context(),
      line: `${start}… (more than ${MAX_LINE_CHARS} characters without a line end)`,
    });
  }

  /** The next whole line already read, parsed; `undefined` when there is none. Blank and non-JSON lines are skipped. */
  private take(): Line | undefined {
    for (;;) {
      const end = this.buffer.indexOf("\n", this.pos);
      if (end < 0) return undefined;
      if (end - this.pos > MAX_LINE_CHARS) throw this.lineTooLong();
      const text = this.buffer.slice(this.pos, end);
      this.pos = end + 1;
      if (this.pos === this.buffer.length) {
        this.buffer = "";
        this.pos = 0;
      }
      const line = this.parse(text);
      if (line !== undefined) return line;
    }
  }

  private parse(text: string): Line | undefined {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // As the `ollama` client does, a line that is not JSON is skipped; the first is kept for
      // `unreadable()`.
      if (!this.sawJson && this.skipped === undefined && text.trim()) this.skipped = text.trim().slice(0, 200);
      return undefined;
    }
    if (typeof value !== "object" || value === null) return undefined;
    this.sawJson = true;
    const line = value as Line;
    // `server/routes.go` `streamResponse`: an error after output is an `{"error"}` line, then the end
    if ("error" in line) {
      this.lastLine = true;
      const message = typeof line.error === "string" ? line.error : JSON.stringify(line.error);
      throw new StreamError({ ...this.context(), serverMessage: message });
    }
    if (line.done === true) this.lastLine = true;
    return line;
  }

  /**
   * Read the body to its end after its last line, so that the connection is complete and goes
   * back to the keep-alive pool; what follows the last line is ignored. A body that does not end
   * within the idle deadline is closed (its answer is complete: no error).
   */
  async drain(): Promise<void> {
    if (this.finished) return;
    this.arm("idle", this.deps.idleTimeoutMs);
    const reader = this.reader as ReadableStreamDefaultReader<Uint8Array>;
    try {
      for (;;) {
        const step = await reader.read();
        if (step.done) break;
      }
      this.eof = true;
    } catch {
      // aborted by the idle deadline or close(), or the connection dropped: the answer was whole
    } finally {
      this.finished = true;
      this.disarm();
    }
  }

  /**
   * Release: stop the deadline, forget the caller's signal. An answer read to its last line is
   * left to end (never aborted); one left before it is aborted, which closes its connection.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.callerSignal?.removeEventListener("abort", this.onCallerAbort);
    if (!this.finished && this.lastLine) {
      void this.drain().finally(() => this.release());
      return;
    }
    if (!this.finished) this.abort("done");
    this.release();
  }

  private release(): void {
    this.disarm();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.deps.inflight.delete(this);
  }

  private context(): OllamaErrorContext {
    return this.model === undefined ? { host: this.deps.host } : { host: this.deps.host, model: this.model };
  }

  /** Turn whatever a wait threw into the error callers see. */
  private failure(error: unknown, otherwise: (error: unknown, context: OllamaErrorContext) => OllamaError): unknown {
    const kind = this.abortKind;
    if (kind === "caller") return this.callerSignal?.reason ?? error;
    if (kind !== undefined) {
      const ctx = { ...this.context(), cause: error };
      switch (kind) {
        case "first-token":
          return new FirstTokenTimeoutError({ ...ctx, timeoutMs: this.reportMs });
        case "load":
          return new LoadTimeoutError({ ...ctx, timeoutMs: this.reportMs });
        case "idle":
          return new IdleTimeoutError({ ...ctx, timeoutMs: this.reportMs });
        case "deadline":
          return new BackendUnreachableError({ ...ctx, reason: `no answer within ${this.reportMs} ms` });
        case "closed":
        case "done":
          return new BackendClosedError(ctx);
      }
    }
    if (error instanceof OllamaError) return error;
    return otherwise(error, this.context());
  }
}

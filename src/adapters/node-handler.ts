import type { IncomingMessage, ServerResponse } from "node:http";
import type { AGUIEvent } from "@ag-ui/core";
import { returnCancelsRun } from "../pipeline/return-cancels.js";
import type { ZoePipeline } from "../pipeline/types.js";
import { checkDeclaredLength, checkJsonRequest } from "./content-type.js";
import { endsHeartbeat, eventEncoding, HEARTBEAT, type EventEncoding } from "./encode-events.js";
import { httpError, type HttpError } from "./http-error.js";
import { checkIdentity, userOf, type IdentityOptions } from "./identity.js";
import { limitsOf, type HttpLimitOptions, type Limits } from "./limits.js";
import { closeAfterAnswer, onClosingConnection, readNodeBody, type ParsedBody } from "./read-body.js";
import { reporter, type HttpFailureStage, type OnHttpError } from "./report.js";
import { closeQuietly, runOptions, startHttpRun } from "./start-run.js";
import { encodeFirst, RunReader, type StartedRun } from "./stream-run.js";
import { timerMs } from "../shared/timer.js";

/**
 * Options of {@link createAgUiHandler}. `getUserId` is required unless `allowClientUserId` is
 * true; see docs/security.md.
 */
export type AgUiHandlerOptions = IdentityOptions<IncomingMessage> &
  HttpLimitOptions & {
    /** Told of host-side failures: a throwing `getUserId`, a pipeline that throws, an event that cannot be encoded. Default `console.error`. */
    onError?: OnHttpError;
  };

/**
 * The handler: `(req, res)` for Node `http`, `(req, res, next)` for Express (`next` is not
 * used), or `(req, res, { body })` to hand over a body the framework already parsed. Its promise
 * never rejects: every failure is answered (or, when the client is gone, dropped).
 */
export type AgUiNodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  parsed?: ParsedBody | ((...args: never[]) => unknown),
) => Promise<void>;

type Report = (error: unknown, stage: HttpFailureStage) => void;

function sendError(res: ServerResponse, error: HttpError, report: Report): void {
  if (error.cause) report(error.cause.error, error.cause.stage);
  if (res.headersSent || !open(res)) return;
  if (error.status === 405) res.setHeader("allow", "POST");
  res.writeHead(error.status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(error.body));
}

/** Answer an error before the body was read: the connection is closed after the answer. */
function sendEarly(req: IncomingMessage, res: ServerResponse, error: HttpError, report: Report): void {
  closeAfterAnswer(req, res);
  sendError(res, error, report);
}

/** Wait until the response can take more data, or is gone. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

const open = (res: ServerResponse) => !res.writableEnded && !res.destroyed;

/** Pending frames past this many characters are written at once (a response's default highWaterMark is 16 KiB). */
const FLUSH_AT = 16 * 1024;

const flushLater = (writer: FrameWriter) => writer.flushScheduled();

/**
 * The frames of a response, coalesced: what the run produces within one tick (before it has to
 * wait for the model, a timer or I/O) goes out in one `res.write`. A push schedules the write on
 * `process.nextTick`, which runs once the microtasks of the tick are done; `FLUSH_AT` characters
 * are written at once, so that backpressure is seen as early as before.
 */
class FrameWriter {
  private text = "";
  private bytes: Uint8Array[] = [];
  private size = 0;
  private scheduled = false;
  /** Set when a write is refused (`res.write` returned false), until `drain` (or `close`): wait for it before reading on. */
  drained: Promise<void> | undefined;

  constructor(private readonly res: ServerResponse) {}

  get empty(): boolean {
    return this.size === 0;
  }

  push(chunk: string | Uint8Array): void {
    if (typeof chunk === "string") this.text += chunk;
    else this.bytes.push(chunk);
    this.size += chunk.length;
    if (this.size >= FLUSH_AT) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(flushLater, this);
    }
  }

  private take(): string | Uint8Array | undefined {
    if (this.size === 0) return undefined;
    const data = this.bytes.length === 0 ? this.text : Buffer.concat(this.bytes);
    this.text = "";
    this.bytes = [];
    this.size = 0;
    return data;
  }

  /** The write scheduled by a push. */
  flushScheduled(): void {
    this.scheduled = false;
    this.flush();
  }

  /** Write what is pending now. */
  flush(): void {
    const data = this.take();
    if (data === undefined || !open(this.res) || this.res.write(data) || this.drained) return;
    // Listen at once: a `drain` that comes before the run is read again is not missed.
    this.drained = drainOrClose(this.res).then(() => {
      this.drained = undefined;
    });
  }

  /** Write what is pending and end the response, in one write. */
  end(): void {
    const data = this.take();
    if (!open(this.res)) return;
    if (data === undefined) this.res.end();
    else this.res.end(data);
  }
}

/**
 * Stream a started run; the response is always ended and the run never left open (see
 * {@link RunReader}). Frames are coalesced per tick ({@link FrameWriter}), except the first token,
 * which is sent at once; when the client does not read, the run is not read further until `drain`.
 */
async function streamRun(
  res: ServerResponse,
  run: StartedRun,
  encoding: EventEncoding,
  heartbeatMs: number,
  report: Report,
): Promise<void> {
  const head = encodeFirst(run, encoding);
  if ("kind" in head) {
    sendError(res, head, report);
    return closeQuietly(run.rest);
  }
  if (!open(res)) return closeQuietly(run.rest);
  const reader = new RunReader(run, encoding, report);
  const writer = new FrameWriter(res);
  let heartbeat: NodeJS.Timeout | undefined;
  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };
  try {
    // No flushHeaders(): the headers go out with the first frames, at the end of this tick at the latest.
    res.writeHead(200, {
      "content-type": encoding.contentType,
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    for (const { chunk } of head) writer.push(chunk);
    if (encoding.sse && heartbeatMs > 0) {
      heartbeat = setInterval(() => {
        if (open(res) && res.writableLength === 0 && writer.empty) res.write(HEARTBEAT);
      }, timerMs(heartbeatMs));
    }
    let token = false;
    for (;;) {
      if (writer.drained) await writer.drained;
      if (!open(res)) return;
      // An event the run has ready is taken without a promise; only when none is, the loop waits.
      const step = reader.ready() ?? (await reader.next());
      if (!step) return;
      writer.push(step.chunk);
      if (!token && endsHeartbeat(step.event)) {
        // The first token goes out now rather than with whatever else the run produces in this tick.
        token = true;
        stopHeartbeat();
        writer.flush();
        // Node corks a response's socket until the next tick: send now.
        const socket = res.socket;
        if (socket && socket.writableCorked > 0) socket.uncork();
      }
      if (step.last) return;
    }
  } finally {
    stopHeartbeat();
    const closing = reader.close();
    if (closing) await closing;
    writer.end();
  }
}

async function handle(
  pipeline: ZoePipeline,
  options: AgUiHandlerOptions,
  limits: Limits,
  report: Report,
  req: IncomingMessage,
  res: ServerResponse,
  parsed: ParsedBody | undefined,
): Promise<void> {
  // Pipelined after an early answer: the connection closes before an answer could reach the client.
  if (onClosingConnection(req)) return void req.resume();
  if (req.method !== "POST")
    return sendEarly(req, res, httpError(405, "METHOD_NOT_ALLOWED", "POST an AG-UI RunAgentInput as JSON."), report);
  const early =
    checkJsonRequest(req.headers["content-type"], req.headers["content-encoding"]) ??
    (parsed || (req as { body?: unknown }).body !== undefined
      ? undefined
      : checkDeclaredLength(req.headers["content-length"], limits.maxBodyBytes));
  if (early) return sendEarly(req, res, early, report);
  // Made only when getUserId does not answer at once: a client that leaves meanwhile ends the wait.
  let whileIdentified: AbortController | undefined;
  const onLeftEarly = () => whileIdentified?.abort();
  const user = await userOf(options, req, limits.getUserIdMs, () => {
    whileIdentified = new AbortController();
    if (open(res)) res.once("close", onLeftEarly);
    else whileIdentified.abort();
    return whileIdentified.signal;
  });
  if (whileIdentified) res.off("close", onLeftEarly);
  if ("kind" in user) return sendEarly(req, res, user, report);
  const body = await readNodeBody(req, parsed, limits);
  if (body.kind === "gone") return;
  if (body.kind === "error") {
    if (body.status === 408 || body.status === 413) closeAfterAnswer(req, res);
    return sendError(res, body, report);
  }
  if (!open(res)) return;

  // A client that leaves cancels the run. `createZoePipeline`'s runs stop when their iterator is
  // returned, so they need no AbortController per request (about 4 µs to make, and GC work); any
  // other pipeline gets a signal, which stops it even while it waits between two events.
  const controller = returnCancelsRun(pipeline) ? undefined : new AbortController();
  let iterator: AsyncIterator<AGUIEvent> | undefined;
  let left = false;
  const onClose = () => {
    if (res.writableFinished) return;
    left = true;
    if (controller) controller.abort(new DOMException("The client disconnected.", "AbortError"));
    else void closeQuietly(iterator);
  };
  res.on("close", onClose);
  try {
    const start = await startHttpRun(pipeline, body.value, runOptions(user.userId, controller), (it) => {
      iterator = it;
    });
    // A run returned before its first event, because the client left, is not a failure to report.
    // A host pipeline's run fails its own way when its signal aborts (the abort's error): not reported either.
    if (left) return start.kind === "stream" ? closeQuietly(start.rest) : undefined;
    if (start.kind === "error") return sendError(res, start, report);
    await streamRun(res, start, eventEncoding(req.headers.accept), limits.heartbeatMs, report);
  } finally {
    res.off("close", onClose);
  }
}

/**
 * A request handler for Node `http`, Express, Fastify and Koa: POST an AG-UI `RunAgentInput` as
 * `application/json`, get the run as `text/event-stream` (protobuf only when the client asks for it
 * by name). Errors before the stream are JSON `{ error: { code, message } }` with a 4xx/5xx status
 * (see docs/http.md); a client that disconnects cancels the run and its model request; writes
 * respect backpressure. The user comes from `getUserId`, never from the body unless
 * `allowClientUserId` is true: without either, this throws a TypeError.
 */
export function createAgUiHandler(pipeline: ZoePipeline, options: AgUiHandlerOptions): AgUiNodeHandler {
  const fn = "createAgUiHandler";
  if (!pipeline || typeof pipeline.run !== "function") throw new TypeError(`${fn}: the first argument must be a ZoePipeline.`);
  checkIdentity(fn, options ?? {});
  const limits = limitsOf(fn, options);
  const report = reporter(options.onError);

  return async function agUiHandler(req, res, parsed) {
    // Late write errors on a response whose client left must not become uncaught 'error' events.
    if (res.listenerCount("error") === 0) res.on("error", () => {});
    try {
      await handle(pipeline, options, limits, report, req, res, typeof parsed === "object" && parsed !== null ? parsed : undefined);
    } catch (error) {
      report(error, "internal");
      try {
        if (!res.headersSent && open(res))
          sendError(res, httpError(500, "INTERNAL_ERROR", "The server failed to handle the request."), report);
        else if (open(res)) res.end();
      } catch {
        res.destroy();
      }
    }
  };
}

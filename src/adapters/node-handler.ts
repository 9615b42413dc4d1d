import type { IncomingMessage, ServerResponse } from "node:http";
import type { ZoePipeline } from "../pipeline/types.js";
import { checkDeclaredLength, checkJsonRequest } from "./content-type.js";
import { endsHeartbeat, eventEncoding, HEARTBEAT, type EventEncoding } from "./encode-events.js";
import { httpError, type HttpError } from "./http-error.js";
import { checkIdentity, userOf, type IdentityOptions } from "./identity.js";
import { limitsOf, type HttpLimitOptions, type Limits } from "./limits.js";
import { closeAfterAnswer, readNodeBody, type ParsedBody } from "./read-body.js";
import { reporter, type HttpFailureStage, type OnHttpError } from "./report.js";
import { closeQuietly, startHttpRun } from "./start-run.js";
import { encodeFirst, encodeRest, type StartedRun } from "./stream-run.js";

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

/** Write one chunk, waiting for `drain` under backpressure; false once the client is gone. */
async function write(res: ServerResponse, chunk: string | Uint8Array): Promise<boolean> {
  if (!open(res)) return false;
  if (res.write(chunk)) return true;
  await drainOrClose(res);
  return !res.destroyed;
}

/** Stream a started run; the response is always ended and the run never left open (see {@link encodeRest}). */
async function streamRun(
  res: ServerResponse,
  run: StartedRun,
  encoding: EventEncoding,
  heartbeatMs: number,
  report: Report,
): Promise<void> {
  const rest = encodeRest(run, encoding, report);
  let started = false;
  let heartbeat: NodeJS.Timeout | undefined;
  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };
  try {
    const head = encodeFirst(run, encoding);
    if ("kind" in head) return sendError(res, head, report);
    if (!open(res)) return;
    res.writeHead(200, {
      "content-type": encoding.contentType,
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.flushHeaders();
    if (encoding.sse && heartbeatMs > 0) {
      heartbeat = setInterval(() => {
        if (open(res) && res.writableLength === 0) res.write(HEARTBEAT);
      }, heartbeatMs);
    }
    for (const { chunk } of head) if (!(await write(res, chunk))) return;
    started = true;
    for await (const { chunk, event } of rest) {
      if (endsHeartbeat(event)) stopHeartbeat();
      if (!(await write(res, chunk))) return;
    }
  } finally {
    stopHeartbeat();
    // A generator that never started has no finally to run: return the run's iterator here.
    await (started ? rest.return() : closeQuietly(run.rest));
    if (open(res)) res.end();
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
  if (req.method !== "POST")
    return sendEarly(req, res, httpError(405, "METHOD_NOT_ALLOWED", "POST an AG-UI RunAgentInput as JSON."), report);
  const early =
    checkJsonRequest(req.headers["content-type"], req.headers["content-encoding"]) ??
    (parsed || (req as { body?: unknown }).body !== undefined
      ? undefined
      : checkDeclaredLength(req.headers["content-length"], limits.maxBodyBytes));
  if (early) return sendEarly(req, res, early, report);
  const user = await userOf(options, req);
  if ("kind" in user) return sendEarly(req, res, user, report);
  const body = await readNodeBody(req, parsed, limits);
  if (body.kind === "gone") return;
  if (body.kind === "error") {
    if (body.status === 408 || body.status === 413) closeAfterAnswer(req, res);
    return sendError(res, body, report);
  }
  if (!open(res)) return;

  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new DOMException("The client disconnected.", "AbortError"));
  };
  res.on("close", onClose);
  try {
    const start = await startHttpRun(pipeline, body.value, {
      ...(user.userId === undefined ? {} : { userId: user.userId }),
      signal: controller.signal,
    });
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

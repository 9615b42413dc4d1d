import type { AGUIEvent } from "@ag-ui/core";
import { returnCancelsRun } from "../pipeline/return-cancels.js";
import type { ZoePipeline } from "../pipeline/types.js";
import { checkDeclaredLength, checkJsonRequest } from "./content-type.js";
import { endsHeartbeat, eventEncoding, HEARTBEAT } from "./encode-events.js";
import { httpError, type HttpError } from "./http-error.js";
import { checkIdentity, userOf, type IdentityOptions } from "./identity.js";
import { limitsOf, type HttpLimitOptions, type Limits } from "./limits.js";
import { givenBody, type BodyResult } from "./parse-body.js";
import { readWebBody } from "./read-web-body.js";
import { reporter, type HttpFailureStage, type OnHttpError } from "./report.js";
import { closeQuietly, runOptions, startHttpRun, type HttpRunStart } from "./start-run.js";
import { encodeFirst, RunReader, type RunStep, type StartedRun } from "./stream-run.js";
import { timerMs } from "../shared/timer.js";

/**
 * Options of {@link createAgUiResponse}. `getUserId` is required unless `allowClientUserId` is
 * true; see docs/security.md.
 */
export type AgUiResponseOptions = IdentityOptions<Request> &
  HttpLimitOptions & {
    /**
     * The body, when the framework has read it already (`await c.req.json()` in Hono): the parsed
     * value, or the JSON text. Without it the adapter reads `request.body` itself.
     */
    body?: unknown;
    /** Told of host-side failures: a throwing `getUserId`, a pipeline that throws, an event that cannot be encoded. Default `console.error`. */
    onError?: OnHttpError;
  };

type Report = (error: unknown, stage: HttpFailureStage) => void;

function json(error: HttpError, report: Report): Response {
  if (error.cause) report(error.cause.error, error.cause.stage);
  return new Response(JSON.stringify(error.body), {
    status: error.status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...(error.status === 405 ? { allow: "POST" } : {}),
    },
  });
}

function bodyOf(request: Request, options: AgUiResponseOptions, limits: Limits): Promise<BodyResult> {
  if (!("body" in options)) return readWebBody(request, limits);
  return Promise.resolve(givenBody(options.body, limits));
}

/** Runs `fn` once the microtasks of the current tick are done (`process.nextTick` on Node, Bun and Deno; a timer elsewhere). */
const afterTick: (fn: () => void) => void =
  typeof globalThis.process?.nextTick === "function" ? (fn) => process.nextTick(fn) : (fn) => setTimeout(fn, 0);

/** True when a step settles within the current tick, false when the run has to wait (for the model, a timer, I/O). */
const settlesThisTick = (step: Promise<unknown>) =>
  new Promise<boolean>((resolve) => {
    step.then(
      () => resolve(true),
      () => resolve(true),
    );
    afterTick(() => resolve(false));
  });

/** Enqueue at once rather than at the end of the tick past this many characters. */
const FLUSH_AT = 16 * 1024;

/**
 * The streamed body of a started run: pulled by the client, always ending with one terminal event
 * or a cancel. One pull enqueues every frame the run produces within one tick (the first token on
 * its own, at once), so a client reads a few chunks per run rather than one per event.
 */
function streamBody(
  run: StartedRun,
  request: Request,
  controller: AbortController | undefined,
  heartbeatMs: number,
  report: Report,
): Response | HttpError {
  const encoding = eventEncoding(request.headers.get("accept"));
  const head = encodeFirst(run, encoding);
  if ("kind" in head) return head;
  const reader = new RunReader(run, encoding, report);
  const bytes = new TextEncoder();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let token = false;
  let cancelled = false;
  /** A step read ahead by the last pull, which the run had to wait for. */
  let ahead: Promise<RunStep | undefined> | undefined;
  /** The run's first events, sent with whatever the first pull reads in the same tick. */
  let first: Array<string | Uint8Array> | undefined = head.map((h) => h.chunk);
  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };
  // The client has gone: no more heartbeats (a body nobody reads or cancels would keep its timer
  // forever), and the run stops. Without a controller (a `createZoePipeline` run), returning the
  // run's iterator cancels it.
  const onRequestAbort = () => {
    stopHeartbeat();
    if (controller) controller.abort(request.signal.reason);
    else void reader.close();
  };
  request.signal.addEventListener("abort", onRequestAbort, { once: true });
  // The request may have been aborted while the run started: a listener added now would never run.
  if (request.signal.aborted) onRequestAbort();
  const stop = () => {
    stopHeartbeat();
    request.signal.removeEventListener("abort", onRequestAbort);
  };
  const pack = (chunks: Array<string | Uint8Array>): Uint8Array => {
    if (typeof chunks[0] === "string") return bytes.encode(chunks.join(""));
    if (chunks.length === 1) return chunks[0] as Uint8Array;
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks as Uint8Array[]) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(stream) {
        if (encoding.sse && heartbeatMs > 0 && !request.signal.aborted) {
          heartbeat = setInterval(() => {
            try {
              if ((stream.desiredSize ?? 0) > 0) stream.enqueue(bytes.encode(HEARTBEAT));
            } catch {
              stop();
            }
          }, timerMs(heartbeatMs));
        }
      },
      async pull(stream) {
        try {
          await pullSteps(stream);
        } catch (error) {
          // Nothing here is expected to throw; if something does, the run and its timer still end.
          if (!cancelled) report(error, "internal");
          stop();
          await reader.close();
          try {
            stream.error(error);
          } catch {
            // Already closed.
          }
        }
      },
      async cancel(reason) {
        cancelled = true;
        stop();
        controller?.abort(reason ?? new DOMException("The client cancelled the stream.", "AbortError"));
        await reader.close();
      },
    },
    { highWaterMark: 16 },
  );
  /** One pull: the frames the run produces within one tick. */
  async function pullSteps(stream: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const chunks = first ?? [];
    first = undefined;
    let size = 0;
    let last = false;
    for (;;) {
      // An event the run has ready is taken without a promise.
      let step = ahead ? undefined : reader.ready();
      if (!step) {
        const next = ahead ?? reader.next();
        ahead = undefined;
        // With frames in hand, read on only while the run produces within this tick; a step it has
        // to wait for (the model, a timer, I/O) is kept for the next pull and the frames go now.
        if (chunks.length > 0 && !(await settlesThisTick(next))) {
          ahead = next;
          break;
        }
        step = await next;
        if (cancelled) return;
      }
      if (!step) {
        last = true;
        break;
      }
      chunks.push(step.chunk);
      size += step.chunk.length;
      if (step.last) {
        last = true;
        break;
      }
      if (!token && endsHeartbeat(step.event)) {
        token = true;
        stopHeartbeat();
        break;
      }
      if (size >= FLUSH_AT) break;
    }
    if (cancelled) return;
    if (chunks.length > 0) stream.enqueue(pack(chunks));
    if (last) {
      stop();
      // A run stopped by a frame that could not be encoded is still going: return its iterator.
      const closing = reader.close();
      if (closing) await closing;
      // The client may have cancelled while the run was returned: the stream is closed already.
      if (!cancelled) stream.close();
    }
  }
  return new Response(body, {
    status: 200,
    headers: { "content-type": encoding.contentType, "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" },
  });
}

async function respond(
  pipeline: ZoePipeline,
  request: Request,
  options: AgUiResponseOptions,
  limits: Limits,
  report: Report,
): Promise<Response> {
  if (request.method !== "POST") return json(httpError(405, "METHOD_NOT_ALLOWED", "POST an AG-UI RunAgentInput as JSON."), report);
  const early =
    checkJsonRequest(request.headers.get("content-type"), request.headers.get("content-encoding")) ??
    ("body" in options ? undefined : checkDeclaredLength(request.headers.get("content-length"), limits.maxBodyBytes));
  if (early) return json(early, report);
  const user = await userOf(options, request, limits.getUserIdMs, () => request.signal);
  if ("kind" in user) return json(user, report);
  const body = await bodyOf(request, options, limits);
  if (body.kind === "error") return json(body, report);
  // A client that has already gone gets no run (nobody would read it), as the Node handler does.
  if (request.signal.aborted) {
    return json(httpError(499, "CLIENT_CLOSED_REQUEST", "The client closed the request before the run started."), report);
  }

  // A `createZoePipeline` run is cancelled by returning its iterator (see docs/design.md): no
  // AbortController per request. Any other pipeline gets a signal that follows the request's.
  const controller = returnCancelsRun(pipeline) ? undefined : new AbortController();
  // A client that leaves while the run starts (before its first event) cancels it at once.
  let iterator: AsyncIterator<AGUIEvent> | undefined;
  const onLeftEarly = () => {
    if (controller) controller.abort(request.signal.reason);
    else void closeQuietly(iterator);
  };
  request.signal.addEventListener("abort", onLeftEarly, { once: true });
  let start: HttpRunStart;
  try {
    start = await startHttpRun(pipeline, body.value, runOptions(user.userId, controller), (it) => {
      iterator = it;
    });
  } finally {
    request.signal.removeEventListener("abort", onLeftEarly);
  }
  // A run returned before its first event, because the client left, is not a failure to report.
  if (request.signal.aborted) {
    if (start.kind === "stream") await closeQuietly(start.rest);
    return json(httpError(499, "CLIENT_CLOSED_REQUEST", "The client closed the request before the run started."), report);
  }
  if (start.kind === "error") return json(start, report);
  const response = streamBody(start, request, controller, limits.heartbeatMs, report);
  if (response instanceof Response) return response;
  await closeQuietly(start.rest);
  return json(response, report);
}

/**
 * Turn a fetch-style request (Hono, Next.js route handlers, Bun, Deno) into a streamed AG-UI
 * `Response`. The stream is pulled by the client (natural backpressure); cancelling it, or the
 * request's own signal aborting, cancels the run and its model request. Errors are JSON
 * `{ error: { code, message } }` with a 4xx/5xx status (docs/http.md); the promise never rejects.
 * Throws a TypeError at once when neither `getUserId` nor `allowClientUserId: true` is given.
 */
export function createAgUiResponse(pipeline: ZoePipeline, request: Request, options: AgUiResponseOptions): Promise<Response> {
  const fn = "createAgUiResponse";
  if (!pipeline || typeof pipeline.run !== "function") throw new TypeError(`${fn}: the first argument must be a ZoePipeline.`);
  checkIdentity(fn, options ?? {});
  const limits = limitsOf(fn, options);
  const report = reporter(options.onError);
  return respond(pipeline, request, options, limits, report).catch((error: unknown) => {
    report(error, "internal");
    return json(httpError(500, "INTERNAL_ERROR", "The server failed to handle the request."), report);
  });
}

import type { ZoePipeline } from "../pipeline/types.js";
import { checkDeclaredLength, checkJsonRequest } from "./content-type.js";
import { endsHeartbeat, eventEncoding, HEARTBEAT } from "./encode-events.js";
import { httpError, type HttpError } from "./http-error.js";
import { checkIdentity, userOf, type IdentityOptions } from "./identity.js";
import { limitsOf, type HttpLimitOptions, type Limits } from "./limits.js";
import { checkParsed, parseBody, type BodyResult } from "./parse-body.js";
import { readWebBody } from "./read-web-body.js";
import { reporter, type HttpFailureStage, type OnHttpError } from "./report.js";
import { closeQuietly, startHttpRun } from "./start-run.js";
import { encodeFirst, encodeRest, type StartedRun } from "./stream-run.js";

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
  const given = options.body;
  if (typeof given === "string" || given instanceof Uint8Array) return Promise.resolve(parseBody(given, limits.maxDepth));
  return Promise.resolve(checkParsed(given, limits.maxDepth));
}

/** The streamed body of a started run: pulled by the client, always ending with one terminal event or a cancel. */
function streamBody(
  run: StartedRun,
  request: Request,
  controller: AbortController,
  heartbeatMs: number,
  report: Report,
): Response | HttpError {
  const encoding = eventEncoding(request.headers.get("accept"));
  const head = encodeFirst(run, encoding);
  if ("kind" in head) return head;
  const rest = encodeRest(run, encoding, report);
  const bytes = new TextEncoder();
  const toBytes = (chunk: string | Uint8Array) => (typeof chunk === "string" ? bytes.encode(chunk) : chunk);
  let pulled = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const onRequestAbort = () => controller.abort(request.signal.reason);
  request.signal.addEventListener("abort", onRequestAbort, { once: true });
  const stop = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    request.signal.removeEventListener("abort", onRequestAbort);
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(stream) {
        for (const { chunk } of head) stream.enqueue(toBytes(chunk));
        if (encoding.sse && heartbeatMs > 0) {
          heartbeat = setInterval(() => {
            try {
              if ((stream.desiredSize ?? 0) > 0) stream.enqueue(bytes.encode(HEARTBEAT));
            } catch {
              stop();
            }
          }, heartbeatMs);
        }
      },
      async pull(stream) {
        pulled = true;
        const next = await rest.next();
        if (next.done) {
          stop();
          stream.close();
          return;
        }
        if (endsHeartbeat(next.value.event)) {
          if (heartbeat) clearInterval(heartbeat);
          heartbeat = undefined;
        }
        stream.enqueue(toBytes(next.value.chunk));
      },
      async cancel(reason) {
        stop();
        controller.abort(reason ?? new DOMException("The client cancelled the stream.", "AbortError"));
        // Returning the generator returns the run's iterator; one not started yet has no finally to run.
        await (pulled ? rest.return() : closeQuietly(run.rest));
      },
    },
    { highWaterMark: 16 },
  );
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
  const user = await userOf(options, request);
  if ("kind" in user) return json(user, report);
  const body = await bodyOf(request, options, limits);
  if (body.kind === "error") return json(body, report);

  const controller = new AbortController();
  if (request.signal.aborted) controller.abort(request.signal.reason);
  const start = await startHttpRun(pipeline, body.value, {
    ...(user.userId === undefined ? {} : { userId: user.userId }),
    signal: controller.signal,
  });
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

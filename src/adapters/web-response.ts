import { EventType } from "@ag-ui/core";
import type { ZoePipeline } from "../pipeline/types.js";
import { encoderFor, startHttpRun, type HttpError } from "./start-run.js";

/** Options of {@link createAgUiResponse}. */
export interface AgUiResponseOptions {
  /** The authenticated user of a request; no user, no run (401). Default: the input's own `userId`. */
  getUserId?: (request: Request) => string | undefined | Promise<string | undefined>;
  /** Interval of SSE heartbeat comments while the model has not produced a token yet, ms. Default 10,000; 0 turns them off. */
  heartbeatMs?: number;
}

const json = (error: HttpError) =>
  new Response(JSON.stringify(error.body), {
    status: error.status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });

/**
 * Turn a fetch-style request (Hono, Next.js route handlers, Bun, Deno) into a streamed AG-UI
 * `Response`. The stream is pulled by the client (natural backpressure); cancelling it, or the
 * request's own signal aborting, cancels the run and its model request.
 */
export async function createAgUiResponse(
  pipeline: ZoePipeline,
  request: Request,
  options: AgUiResponseOptions = {},
): Promise<Response> {
  if (request.method !== "POST") {
    return json({ kind: "error", status: 405, body: { error: { code: "METHOD_NOT_ALLOWED", message: "POST an AG-UI RunAgentInput as JSON." } } });
  }
  let userId: string | undefined;
  if (options.getUserId) {
    userId = await options.getUserId(request);
    if (!userId) return json({ kind: "error", status: 401, body: { error: { code: "UNAUTHENTICATED", message: "No user: sign in to start a run." } } });
  }
  let input: unknown;
  try {
    input = await request.json();
  } catch (error) {
    return json({ kind: "error", status: 400, body: { error: { code: "INVALID_JSON", message: `The request body is not valid JSON: ${(error as Error).message}` } } });
  }
  const controller = new AbortController();
  const onRequestAbort = () => controller.abort(request.signal.reason);
  request.signal.addEventListener("abort", onRequestAbort, { once: true });
  const start = await startHttpRun(pipeline, input, { ...(userId ? { userId } : {}), signal: controller.signal });
  if (start.kind === "error") {
    request.signal.removeEventListener("abort", onRequestAbort);
    return json(start);
  }

  const encoder = encoderFor(request.headers.get("accept"));
  const sse = encoder.getContentType().startsWith("text/event-stream");
  const bytes = new TextEncoder();
  const encode = (event: Parameters<typeof encoder.encode>[0]) => (sse ? bytes.encode(encoder.encodeSSE(event)) : encoder.encodeBinary(event));
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const stop = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    request.signal.removeEventListener("abort", onRequestAbort);
  };

  const body = new ReadableStream<Uint8Array>({
    start(stream) {
      for (const event of start.first) stream.enqueue(encode(event));
      if (sse && heartbeatMs > 0) {
        heartbeat = setInterval(() => {
          if ((stream.desiredSize ?? 0) > 0) stream.enqueue(bytes.encode(": heartbeat\n\n"));
        }, heartbeatMs);
      }
    },
    async pull(stream) {
      const next = await start.rest.next();
      if (next.done) {
        stop();
        stream.close();
        return;
      }
      if (next.value.type === EventType.TEXT_MESSAGE_CONTENT || next.value.type === EventType.REASONING_MESSAGE_CONTENT) {
        if (heartbeat) clearInterval(heartbeat);
        heartbeat = undefined;
      }
      stream.enqueue(encode(next.value));
    },
    async cancel(reason) {
      stop();
      controller.abort(reason ?? new DOMException("The client cancelled the stream.", "AbortError"));
      await start.rest.return?.();
    },
  }, { highWaterMark: 16 });

  return new Response(body, {
    status: 200,
    headers: { "content-type": encoder.getContentType(), "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" },
  });
}

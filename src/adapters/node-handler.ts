import type { IncomingMessage, ServerResponse } from "node:http";
import type { AGUIEvent } from "@ag-ui/core";
import { EventType } from "@ag-ui/core";
import type { ZoePipeline } from "../pipeline/types.js";
import { encoderFor, httpError, startHttpRun, type HttpError } from "./start-run.js";

/** Options of {@link createAgUiHandler}. */
export interface AgUiHandlerOptions {
  /** The authenticated user of a request; no user, no run (401). Default: the input's own `userId`. */
  getUserId?: (req: IncomingMessage) => string | undefined | Promise<string | undefined>;
  /** Interval of SSE heartbeat comments while the model has not produced a token yet, ms. Default 10,000; 0 turns them off. */
  heartbeatMs?: number;
  /** Largest accepted request body, bytes. Default 1 MiB. */
  maxBodyBytes?: number;
}

type RequestWithBody = IncomingMessage & { body?: unknown };

async function readJson(req: RequestWithBody, maxBytes: number): Promise<{ kind: "json"; value: unknown } | HttpError> {
  // Express with express.json() has parsed the body already.
  if (req.body !== undefined && typeof req.body === "object" && !Buffer.isBuffer(req.body)) return { kind: "json", value: req.body };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) return httpError(413, "BODY_TOO_LARGE", `The request body is over ${maxBytes} bytes.`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return { kind: "json", value: JSON.parse(text) as unknown };
  } catch (error) {
    return httpError(400, "INVALID_JSON", `The request body is not valid JSON: ${(error as Error).message}`);
  }
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

function sendError(res: ServerResponse, start: HttpError): void {
  res.writeHead(start.status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(start.body));
}

/**
 * A request handler for Node `http` and Express (`(req, res)`): POST an AG-UI `RunAgentInput` as
 * JSON, get the run as `text/event-stream` (protobuf only when the client asks for it by name).
 * Bad JSON or input is a 400 with a JSON error body; a client that disconnects cancels the run and
 * its model request; writes respect backpressure.
 */
export function createAgUiHandler(pipeline: ZoePipeline, options: AgUiHandlerOptions = {}) {
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;

  return async function agUiHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return sendError(res, httpError(405, "METHOD_NOT_ALLOWED", "POST an AG-UI RunAgentInput as JSON."));
    }
    let userId: string | undefined;
    if (options.getUserId) {
      userId = await options.getUserId(req);
      if (!userId) return sendError(res, httpError(401, "UNAUTHENTICATED", "No user: sign in to start a run."));
    }
    const body = await readJson(req as RequestWithBody, maxBodyBytes);
    if (body.kind === "error") return sendError(res, body);

    const controller = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) controller.abort(new DOMException("The client disconnected.", "AbortError"));
    };
    res.on("close", onClose);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      const start = await startHttpRun(pipeline, body.value, { ...(userId ? { userId } : {}), signal: controller.signal });
      if (start.kind === "error") return sendError(res, start);

      const encoder = encoderFor(req.headers.accept);
      res.writeHead(200, {
        "content-type": encoder.getContentType(),
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      res.flushHeaders();
      const sse = encoder.getContentType().startsWith("text/event-stream");
      const write = async (chunk: string | Uint8Array): Promise<boolean> => {
        if (res.writableEnded || res.destroyed) return false;
        if (res.write(chunk)) return true;
        // Backpressure: wait for the client to read, or for it to leave.
        await drainOrClose(res);
        return !res.destroyed;
      };
      const send = (event: AGUIEvent) => write(sse ? encoder.encodeSSE(event) : encoder.encodeBinary(event));

      if (sse && heartbeatMs > 0) {
        heartbeat = setInterval(() => {
          if (!res.writableEnded && !res.destroyed && res.writableLength === 0) res.write(": heartbeat\n\n");
        }, heartbeatMs);
      }
      for (const event of start.first) if (!(await send(event))) return;
      for (;;) {
        const next = await start.rest.next();
        if (next.done) break;
        if (heartbeat && (next.value.type === EventType.TEXT_MESSAGE_CONTENT || next.value.type === EventType.REASONING_MESSAGE_CONTENT)) {
          clearInterval(heartbeat);
          heartbeat = undefined;
        }
        if (!(await send(next.value))) {
          await start.rest.return?.();
          return;
        }
      }
      if (!res.writableEnded && !res.destroyed) res.end();
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      res.off("close", onClose);
      if (!res.writableEnded && !res.destroyed && res.headersSent) res.end();
    }
  };
}

import type { IncomingMessage, ServerResponse } from "node:http";

/** The codes of body-parser's errors (`express.json()`), as the AG-UI adapters name them. */
const CODES: Record<string, { status: number; code: string }> = {
  "entity.parse.failed": { status: 400, code: "INVALID_JSON" },
  "entity.too.large": { status: 413, code: "BODY_TOO_LARGE" },
  "entity.verify.failed": { status: 403, code: "FORBIDDEN" },
  "encoding.unsupported": { status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  "charset.unsupported": { status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  "request.aborted": { status: 400, code: "BODY_READ_FAILED" },
  "request.size.invalid": { status: 400, code: "BODY_READ_FAILED" },
  "stream.encoding.set": { status: 500, code: "BODY_ALREADY_READ" },
  "stream.not.readable": { status: 500, code: "BODY_ALREADY_READ" },
};

type ErrorLike = { status?: unknown; statusCode?: unknown; type?: unknown; message?: unknown };

/**
 * An Express error handler (`app.use(agUiErrorHandler())`, after the routes) that answers in the
 * AG-UI adapters' JSON shape `{ error: { code, message } }` instead of Express's HTML page: the
 * errors of `express.json()` get the adapters' codes (`INVALID_JSON`, `BODY_TOO_LARGE`,
 * `UNSUPPORTED_MEDIA_TYPE`, ...), other 4xx errors `HTTP_<status>`, anything else a 500
 * `SERVER_ERROR` whose message is not shown to the client.
 */
export function agUiErrorHandler() {
  return function agUiErrors(error: unknown, _req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void {
    if (res.headersSent) {
      next(error);
      return;
    }
    const e = (typeof error === "object" && error !== null ? error : {}) as ErrorLike;
    const known = typeof e.type === "string" ? CODES[e.type] : undefined;
    const raw = Number(e.status ?? e.statusCode);
    const status = known?.status ?? (raw >= 400 && raw < 600 ? raw : 500);
    const code = known?.code ?? (status < 500 ? `HTTP_${status}` : "SERVER_ERROR");
    const message = status < 500 && typeof e.message === "string" ? e.message.slice(0, 300) : "The server failed to handle the request.";
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
    res.end(JSON.stringify({ error: { code, message } }));
  };
}

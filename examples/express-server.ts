/**
 * An Express 5 server with the pipeline and the web UI: `npx tsx examples/express-server.ts`
 * (Ollama when it answers at OLLAMA_HOST, else the embedded llama.cpp backend on ZOE_MODEL_PATH).
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath, pathToFileURL } from "node:url";
import express from "express";
import { Registry } from "prom-client";
import { createZoePipeline, type ZoePipeline } from "zoe-pipeline";
import { agUiErrorHandler, createAgUiHandler } from "zoe-pipeline/express";
import { registerPrometheusMetrics } from "zoe-pipeline/prometheus";
import { chooseBackend, demoProviders, demoRouter } from "./setup.js";

// The chat page, as Vite builds it from examples/web (`npm run build:web`).
const webRoot = fileURLToPath(new URL("./web/dist/", import.meta.url));

/** The cookie that carries an anonymous visitor's id. */
export const VISITOR_COOKIE = "zoe_visitor";

/**
 * Anonymous visitors, each with a random id in an HMAC-signed, HttpOnly cookie: a client cannot
 * choose or guess another visitor's id, and a forged or tampered cookie just gets a new id. A real
 * app would use its own sessions or tokens here; the point is that the user comes from something
 * the server issued, never from a header or body field anyone can set.
 */
export function anonymousVisitors(secret: string | Buffer) {
  const sign = (id: string) => createHmac("sha256", secret).update(id).digest("base64url");
  const visitors = new WeakMap<IncomingMessage, string>();
  const verify = (value: string | undefined): string | undefined => {
    const dot = value?.lastIndexOf(".") ?? -1;
    if (!value || dot <= 0) return undefined;
    const id = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1));
    const expected = Buffer.from(sign(id));
    return given.length === expected.length && timingSafeEqual(given, expected) ? id : undefined;
  };
  const cookie = (req: IncomingMessage): string | undefined =>
    (req.headers.cookie ?? "")
      .split(";")
      .map((part) => part.trim())
      .find((part) => part.startsWith(`${VISITOR_COOKIE}=`))
      ?.slice(VISITOR_COOKIE.length + 1);
  return {
    /** Middleware: find the visitor's id in its signed cookie, or issue a new one. */
    middleware(req: IncomingMessage, res: ServerResponse, next: () => void) {
      let id = verify(cookie(req));
      if (!id) {
        id = `visitor-${randomUUID()}`;
        const secure = (req.socket as { encrypted?: boolean }).encrypted ? "; Secure" : "";
        res.appendHeader("set-cookie", `${VISITOR_COOKIE}=${id}.${sign(id)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000${secure}`);
      }
      visitors.set(req, id);
      next();
    },
    /** The visitor of a request (set by the middleware). */
    userOf: (req: IncomingMessage) => visitors.get(req),
  };
}

/** The app: the web UI at `/`, the AG-UI endpoint at `POST /api/agent`, Prometheus metrics at `GET /metrics`. */
export function createApp(pipeline: ZoePipeline, options: { heartbeatMs?: number; bodyTimeoutMs?: number; cookieSecret?: string } = {}) {
  const app = express();
  // Signed with ZOE_COOKIE_SECRET when set (ids then survive a restart), else a random per-process secret.
  const visitors = anonymousVisitors(options.cookieSecret ?? process.env.ZOE_COOKIE_SECRET ?? randomBytes(32));
  app.use(visitors.middleware);
  app.use(express.static(webRoot));
  // No express.json(): the handler reads the body itself, with its size limit, read deadline,
  // depth limit and content-type check. Every method reaches it, so GET is a JSON 405.
  app.all(
    "/api/agent",
    createAgUiHandler(pipeline, {
      getUserId: visitors.userOf,
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
      ...(options.bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs: options.bodyTimeoutMs }),
    }),
  );
  // A registry of its own per app, so that several apps (tests) can live in one process.
  const { registry } = registerPrometheusMetrics(pipeline, { registry: new Registry() });
  app.get("/metrics", (_req, res, next) => {
    registry.metrics().then((text) => res.type(registry.contentType).send(text), next);
  });
  app.use("/api", (_req, res) => {
    res.status(404).json({ error: { code: "NOT_FOUND", message: "No such endpoint: the agent is at POST /api/agent." } });
  });
  app.use(agUiErrorHandler());
  return app;
}

async function main() {
  const chosen = await chooseBackend(process.argv.slice(2));
  if (!chosen.ok) {
    console.error(chosen.help);
    process.exit(2);
  }
  const pipeline = createZoePipeline({ backend: chosen.backend, router: demoRouter(chosen.models), providers: demoProviders() });
  void pipeline.prewarm();
  const port = Number(process.env.PORT ?? 3000);
  const server = createApp(pipeline).listen(port, "127.0.0.1", () => {
    console.log(`zoe-pipeline example on http://127.0.0.1:${port} (${chosen.description})`);
  });
  const stop = () => server.close(() => void pipeline.close());
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

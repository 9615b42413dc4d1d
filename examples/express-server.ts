/**
 * An Express 5 server with the pipeline and the web UI: `npx tsx examples/express-server.ts`
 * (Ollama when it answers at OLLAMA_HOST, else the embedded llama.cpp backend on ZOE_MODEL_PATH).
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import express from "express";
import { Registry } from "prom-client";
import { createZoePipeline, type ZoePipeline } from "zoe-pipeline";
import { createAgUiHandler } from "zoe-pipeline/express";
import { registerPrometheusMetrics } from "zoe-pipeline/prometheus";
import { chooseBackend, demoProviders, demoRouter } from "./setup.js";

const webRoot = fileURLToPath(new URL("./web/", import.meta.url));

/** The app: the web UI at `/`, the AG-UI endpoint at `POST /api/agent`, Prometheus metrics at `GET /metrics`. */
export function createApp(pipeline: ZoePipeline, options: { heartbeatMs?: number } = {}) {
  const app = express();
  app.use(express.json({ limit: "1mb" }));
  app.use(express.static(webRoot));
  // A real app authenticates; the example trusts an `x-user-id` header and falls back to one demo user.
  const handler = createAgUiHandler(pipeline, {
    getUserId: (req) => (req.headers["x-user-id"] as string | undefined) ?? "demo-user",
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
  });
  app.post("/api/agent", (req, res, next) => {
    handler(req, res).catch(next);
  });
  // A registry of its own per app, so that several apps (tests) can live in one process.
  const { registry } = registerPrometheusMetrics(pipeline, { registry: new Registry() });
  app.get("/metrics", (_req, res, next) => {
    registry.metrics().then((text) => res.type(registry.contentType).send(text), next);
  });
  // express.json() answers malformed JSON with its own error: make it the adapter's JSON shape.
  app.use((error: { status?: number; type?: string; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = error.status ?? 500;
    res.status(status).json({ error: { code: error.type === "entity.parse.failed" ? "INVALID_JSON" : "SERVER_ERROR", message: error.message } });
  });
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

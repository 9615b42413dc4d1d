/** Hono on Node: `npx tsx examples/frameworks/hono.ts`. */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createAgUiResponse } from "zoe-pipeline";
import { isMain, pipeline, PORT, userOfRequest } from "./shared.js";

export const app = new Hono();
// `c.req.raw` is the Web Request; its body is still unread, so the adapter reads it (with limits).
// If a middleware has read it (`await c.req.json()`), pass that value as `body`.
app.post("/api/agent", (c) => createAgUiResponse(pipeline, c.req.raw, { getUserId: userOfRequest }));

if (isMain(import.meta.url)) serve({ fetch: app.fetch, port: PORT }, () => console.log(`POST http://127.0.0.1:${PORT}/api/agent`));

/** Express 5: `npx tsx examples/frameworks/express.ts`. */
import express from "express";
import { agUiErrorHandler, createAgUiHandler } from "zoe-pipeline/express";
import { isMain, pipeline, PORT, userOfNodeRequest } from "./shared.js";

export const app = express();
// No body parser needed: the handler reads the body with its own size limit and deadline.
// (With `express.json()` in front, it takes `req.body` as parsed.)
app.post("/api/agent", createAgUiHandler(pipeline, { getUserId: userOfNodeRequest }));
app.use(agUiErrorHandler()); // JSON errors instead of Express's HTML page

if (isMain(import.meta.url)) app.listen(PORT, () => console.log(`POST http://127.0.0.1:${PORT}/api/agent`));

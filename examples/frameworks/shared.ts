/**
 * What the framework recipes share: one pipeline (Ollama at OLLAMA_HOST) and a stand-in for your
 * authentication. Each recipe runs on its own: `npx tsx examples/frameworks/<name>.ts`, then
 *
 *   curl -N http://127.0.0.1:3000/api/agent -H 'authorization: Bearer demo-token' \
 *     -H 'content-type: application/json' -d '{"message": "Why is the sky blue?"}'
 */
import type { IncomingMessage } from "node:http";
import { pathToFileURL } from "node:url";
import { createZoePipeline, heuristicRouter } from "zoe-pipeline";
import { ollamaBackend } from "zoe-pipeline/ollama";

export const pipeline = createZoePipeline({
  backend: ollamaBackend({ host: process.env.OLLAMA_HOST ?? "http://127.0.0.1:11434", keepAlive: "30m" }),
  router: heuristicRouter({ models: { fast: "llama3.2", default: "llama3.2" } }),
});

/**
 * Stands for your authentication (a session, a verified JWT…): API tokens → user ids. The user
 * always comes from here, never from the request body (see docs/security.md).
 */
const users = new Map([[process.env.ZOE_DEMO_TOKEN ?? "demo-token", "ada"]]);
const userOfToken = (authorization: string | null | undefined) => users.get(authorization?.replace(/^Bearer /i, "") ?? "");

/** The user of a Node request (Express, Fastify, Koa, Node `http`). */
export const userOfNodeRequest = (request: IncomingMessage) => userOfToken(request.headers.authorization);

/** The user of a Web `Request` (Hono, Next.js, Bun, Deno). */
export const userOfRequest = (request: Request) => userOfToken(request.headers.get("authorization"));

export const PORT = Number(process.env.PORT ?? 3000);

/** True when `moduleUrl` is the script Node was started with (`npx tsx examples/frameworks/x.ts`). */
export const isMain = (moduleUrl: string) => process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href;

/** Koa 3: `npx tsx examples/frameworks/koa.ts`. */
import Koa from "koa";
import { createAgUiHandler } from "zoe-pipeline/express";
import { isMain, pipeline, PORT, userOfNodeRequest } from "./shared.js";

const handler = createAgUiHandler(pipeline, { getUserId: userOfNodeRequest });

export const app = new Koa();
app.use(async (ctx, next) => {
  if (ctx.method !== "POST" || ctx.path !== "/api/agent") return next();
  ctx.respond = false; // the handler writes the streamed response itself
  // No body parser on this route: the handler reads the body. Behind @koa/bodyparser, hand the
  // parsed body over instead: `await handler(ctx.req, ctx.res, { body: ctx.request.body })`.
  await handler(ctx.req, ctx.res);
});

if (isMain(import.meta.url)) app.listen(PORT, () => console.log(`POST http://127.0.0.1:${PORT}/api/agent`));

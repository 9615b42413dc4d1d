/** Fastify 5: `npx tsx examples/frameworks/fastify.ts`. */
import Fastify from "fastify";
import { createAgUiHandler } from "zoe-pipeline/express";
import { isMain, pipeline, PORT, userOfNodeRequest } from "./shared.js";

const handler = createAgUiHandler(pipeline, { getUserId: userOfNodeRequest });

export const app = Fastify();
// Keep JSON bodies as text, so the handler parses them: the same depth check and the same JSON
// error codes (INVALID_JSON…) as on every other server. Fastify still applies its `bodyLimit`.
app.removeContentTypeParser("application/json");
app.addContentTypeParser(/^application\/([\w.-]+\+)?json\b/i, { parseAs: "string" }, (_request, body, done) => done(null, body));

app.post("/api/agent", async (request, reply) => {
  reply.hijack(); // the handler writes the streamed response itself
  // Fastify has read the body (the request stream is consumed): hand it over.
  await handler(request.raw, reply.raw, { body: request.body });
});

if (isMain(import.meta.url)) await app.listen({ port: PORT }).then((address) => console.log(`POST ${address}/api/agent`));

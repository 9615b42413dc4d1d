/**
 * The hostile suite's server, run in a child process with `--unhandled-rejections=strict` so that
 * any unhandled rejection kills it: a plain `node:http` server using `createAgUiHandler`, and the
 * Express example app, each on its own pipeline (scripted backend). `GET /debug` on the first
 * reports both pipelines' active runs and the heap after a full GC.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp } from "../../examples/express-server.js";
import { createZoePipeline } from "../../src/index.js";
import { createAgUiHandler } from "../../src/express/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";

const bodyTimeoutMs = Number(process.env.HOSTILE_BODY_TIMEOUT_MS ?? 400);
const backend = () =>
  scriptedBackend({
    record: false,
    script: (request) => {
      const last = request.messages.at(-1);
      const text = typeof last?.content === "string" ? last.content : "";
      return text.includes("slowly")
        ? [...textChunks("one two three four"), { type: "delay", ms: 50 }, ...textChunks(" five")]
        : textChunks("Fine, thanks.");
    },
  });
// A provider that always throws (the pipeline isolates it), and one keyed like the example's
// `memory` provider (the first 80 characters of the text: an emoji can be cut in half).
const throwing = testProvider("flaky", "never", { fail: true });
const memory = { ...testProvider("memory", "no notes"), cacheKey: ({ text }: { text: string }) => text.toLowerCase().slice(0, 80) };
const nodePipeline = createZoePipeline({ backend: backend(), router: fixedRouter(), providers: [throwing, memory] });
const expressPipeline = createZoePipeline({ backend: backend(), router: fixedRouter(), providers: [memory] });

/** The user from `authorization: Bearer <token>`; some tokens make the hook misbehave on purpose. */
async function getUserId(req: IncomingMessage): Promise<string | undefined> {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  switch (token) {
    case undefined:
    case "none":
      return undefined;
    case "throw":
      throw new Error("bad token");
    case "throw-401":
      throw Object.assign(new Error("expired token"), { status: 401 });
    case "throw-string":
      throw "not even an Error";
    case "reject-later":
      await new Promise((r) => setTimeout(r, 5));
      throw new TypeError("the session store is down");
    case "number":
      return 42 as unknown as string;
    default:
      return token;
  }
}

let reported = 0;
// A throwing onError hook: the adapter must swallow it.
const onError = () => {
  reported++;
  throw new Error(`onError throws too (${reported})`);
};
const handler = createAgUiHandler(nodePipeline, { getUserId, bodyTimeoutMs, heartbeatMs: 0, onError });
const gc = (globalThis as { gc?: () => void }).gc;

const nodeServer = createServer((req, res) => {
  if (req.url === "/debug") {
    gc?.();
    gc?.();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        activeRuns: nodePipeline.activeRuns + expressPipeline.activeRuns,
        inFlight: nodePipeline.metrics().runs.inFlight + expressPipeline.metrics().runs.inFlight,
        heapUsed: process.memoryUsage().heapUsed,
        gc: gc !== undefined,
      }),
    );
    return;
  }
  // As the README shows: the handler's promise is not awaited or caught.
  void handler(req, res);
});
const expressServer = createApp(expressPipeline, { heartbeatMs: 0, bodyTimeoutMs }).listen(0, "127.0.0.1");

await Promise.all([
  new Promise<void>((r) => nodeServer.listen(0, "127.0.0.1", r)),
  new Promise<void>((r) => (expressServer.listening ? r() : expressServer.once("listening", r))),
]);
const port = (s: { address(): AddressInfo | string | null }) => (s.address() as AddressInfo).port;
process.send?.({ ready: true, nodePort: port(nodeServer), expressPort: port(expressServer) });
process.on("disconnect", () => process.exit(0));

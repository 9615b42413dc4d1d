import { afterEach, describe, expect, it } from "vitest";
import { createAgUiResponse, createZoePipeline } from "../../src/index.js";
import { createAgUiHandler } from "../../src/express/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { listen, runInput } from "../helpers/http.js";

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Unhandled rejections seen while `fn` runs (Node's default mode, `throw`, would end the host process on each). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await fn();
    await sleep(100);
  } finally {
    process.off("unhandledRejection", listener);
  }
  return seen;
}

// docs/http.md, onError: "A hook that throws is ignored." An async hook (a logger that ships the
// error over the network) throws by rejecting; its type `(error, ctx) => void` accepts an async function.
const failingLogger = async () => {
  throw new Error("the log shipper is down");
};

describe("an async onError hook that rejects", () => {
  it("Node handler: a getUserId failure reported to an async onError is not an unhandled rejection", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    const handler = createAgUiHandler(pipeline, {
      getUserId: () => {
        throw new Error("identity service down");
      },
      onError: failingLogger,
    });
    const server = await listen(handler);
    cleanups.push(() => server.close());
    const unhandled = await unhandledDuring(async () => {
      const response = await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(runInput("hi")),
      });
      expect(response.status).toBe(500);
      await response.text();
    });
    expect(unhandled.map(String)).toEqual([]);
  });

  it("Web adapter: the same", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    const unhandled = await unhandledDuring(async () => {
      const response = await createAgUiResponse(
        pipeline,
        new Request("http://app.local/agent", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(runInput("hi")),
        }),
        {
          getUserId: () => Promise.reject(new Error("identity service down")),
          onError: failingLogger,
        },
      );
      expect(response.status).toBe(500);
    });
    expect(unhandled.map(String)).toEqual([]);
  });
});

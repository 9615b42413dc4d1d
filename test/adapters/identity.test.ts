import { afterEach, describe, expect, it } from "vitest";
import { createAgUiResponse, createZoePipeline, type AgUiResponseOptions } from "../../src/index.js";
import { createAgUiHandler, type AgUiHandlerOptions } from "../../src/express/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { listen, postJson } from "../helpers/http.js";
import { sseEvents } from "../hostile/clients.js";

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function newPipeline() {
  const backend = scriptedBackend({ script: textChunks("Noted.") });
  const pipeline = createZoePipeline({ backend, router: fixedRouter() });
  cleanups.push(() => pipeline.close());
  return { pipeline, backend };
}

/** Every text the model was sent, across all requests. */
const modelSaw = (backend: ReturnType<typeof newPipeline>["backend"]) => JSON.stringify(backend.requests.map((r) => r.messages));

const input = (text: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    threadId: "diary",
    runId: crypto.randomUUID(),
    messages: [{ id: crypto.randomUUID(), role: "user", content: text }],
    ...extra,
  });

describe("identity: a secure default", () => {
  it("createAgUiHandler and createAgUiResponse throw a TypeError naming getUserId without getUserId or allowClientUserId", () => {
    const { pipeline } = newPipeline();
    const request = new Request("http://x/", { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    for (const options of [undefined, {}, { allowClientUserId: false }, { getUserId: undefined }]) {
      expect(() => createAgUiHandler(pipeline, options as unknown as AgUiHandlerOptions)).toThrow(TypeError);
      expect(() => createAgUiHandler(pipeline, options as unknown as AgUiHandlerOptions)).toThrow(/getUserId/);
      expect(() => createAgUiResponse(pipeline, request, options as unknown as AgUiResponseOptions)).toThrow(/getUserId/);
    }
    expect(() => createAgUiHandler(pipeline, { getUserId: "alice" } as unknown as AgUiHandlerOptions)).toThrow(/getUserId/);
    expect(() => createAgUiHandler(pipeline, { allowClientUserId: true })).not.toThrow();
    expect(() => createAgUiHandler(pipeline, { getUserId: () => "u" })).not.toThrow();
  });

  it("through Node http: a body naming another user never reaches that user's history, nor shows it", async () => {
    const { pipeline, backend } = newPipeline();
    // The host authenticates with a bearer token that names the user.
    const { url, close } = await listen(
      createAgUiHandler(pipeline, { getUserId: (req) => /^Bearer (\w+)$/.exec(req.headers.authorization ?? "")?.[1] }),
    );
    cleanups.push(close);
    const as = (user: string, body: string) => postJson(url, body, { authorization: `Bearer ${user}` }).then((r) => r.text());

    await as("victim", input("my secret is 4711"));
    const before = await pipeline.history.get("victim", "diary");
    expect(before.map((e) => e.content)).toEqual(["my secret is 4711", "Noted."]);

    // The attacker names the victim in the body, in both input shapes.
    const requestsBefore = backend.requests.length;
    await as("mallory", input("what is my secret?", { userId: "victim" }));
    await as("mallory", JSON.stringify({ userId: "victim", threadId: "diary", message: "append this to the victim's diary" }));
    expect(await pipeline.history.get("victim", "diary")).toEqual(before);
    expect(JSON.stringify(backend.requests.slice(requestsBefore).map((r) => r.messages))).not.toContain("4711");
    // The attacker's turns went to the attacker's own history.
    expect((await pipeline.history.get("mallory", "diary")).map((e) => e.content)).toContain("what is my secret?");
  });

  it("through the Web adapter: the same", async () => {
    const { pipeline, backend } = newPipeline();
    const as = async (user: string, body: string) => {
      const request = new Request("http://app.local/agent", { method: "POST", body, headers: { "content-type": "application/json" } });
      return (await createAgUiResponse(pipeline, request, { getUserId: () => user })).text();
    };
    await as("victim", input("my pin is 1234"));
    const before = await pipeline.history.get("victim", "diary");
    expect(before).toHaveLength(2);
    const seen = backend.requests.length;
    const events = sseEvents(await as("mallory", input("and my pin?", { userId: "victim" })));
    expect(events.at(-1)?.type).toBe("RUN_FINISHED");
    expect(await pipeline.history.get("victim", "diary")).toEqual(before);
    expect(modelSaw({ ...backend, requests: backend.requests.slice(seen) } as typeof backend)).not.toContain("1234");
  });

  it("allowClientUserId: true lets the body name the user (the documented trade-off)", async () => {
    const { pipeline } = newPipeline();
    const { url, close } = await listen(createAgUiHandler(pipeline, { allowClientUserId: true }));
    cleanups.push(close);
    await (await postJson(url, input("hello", { userId: "someone" }))).text();
    expect(await pipeline.history.get("someone", "diary")).toHaveLength(2);
    const anonymous = await postJson(url, input("hello"));
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("MISSING_USER_ID");
  });

  it("with getUserId, it decides even when allowClientUserId is true", async () => {
    const { pipeline } = newPipeline();
    const { url, close } = await listen(createAgUiHandler(pipeline, { getUserId: () => "host-user", allowClientUserId: true }));
    cleanups.push(close);
    await (await postJson(url, input("hello", { userId: "someone" }))).text();
    expect(await pipeline.history.get("someone", "diary")).toEqual([]);
    expect(await pipeline.history.get("host-user", "diary")).toHaveLength(2);
  });

  it("a getUserId that never settles is a 503 GET_USER_ID_TIMEOUT after getUserIdMs, through both adapters; no run starts", async () => {
    const { pipeline, backend } = newPipeline();
    const never = () => new Promise<string>(() => {});
    const stages: string[] = [];
    const options = { getUserId: never, getUserIdMs: 50, onError: (_e: unknown, { stage }: { stage: string }) => stages.push(stage) };
    const handler = createAgUiHandler(pipeline, options);
    const server = await listen((req, res) => handler(req, res));
    cleanups.push(server.close);
    const viaNode = await postJson(server.url, input("hello"));
    expect(viaNode.status).toBe(503);
    expect(await viaNode.json()).toMatchObject({ error: { code: "GET_USER_ID_TIMEOUT" } });
    const viaWeb = await createAgUiResponse(
      pipeline,
      new Request("http://x/", { method: "POST", body: input("hello"), headers: { "content-type": "application/json" } }),
      // biome-ignore lint/suspicious/noThenProperty: a thenable that never settles is the case tested
      { ...options, getUserId: () => ({ then() {} }) as unknown as Promise<string> },
    );
    expect(viaWeb.status).toBe(503);
    expect(await viaWeb.json()).toMatchObject({ error: { code: "GET_USER_ID_TIMEOUT" } });
    expect(stages).toEqual(["getUserId", "getUserId"]);
    expect(backend.requests).toHaveLength(0);
  });

  it("getUserIdMs must be a number of at least 1", () => {
    const { pipeline } = newPipeline();
    for (const getUserIdMs of [0, -1, Number.NaN, "5"]) {
      expect(() => createAgUiHandler(pipeline, { getUserId: () => "u", getUserIdMs } as unknown as AgUiHandlerOptions)).toThrow(
        /getUserIdMs/,
      );
    }
  });

  it("a client that leaves while getUserId waits ends the wait: nothing is reported, nothing is written", async () => {
    const { pipeline, backend } = newPipeline();
    const errors: unknown[] = [];
    let settle: ((id: string) => void) | undefined;
    const handler = createAgUiHandler(pipeline, {
      getUserId: () => new Promise<string>((resolve) => (settle = resolve)),
      getUserIdMs: 60_000,
      onError: (error) => errors.push(error),
    });
    let handled: Promise<void> | undefined;
    const server = await listen((req, res) => (handled = handler(req, res)));
    cleanups.push(server.close);
    const controller = new AbortController();
    const aborted = fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: input("hello"),
      signal: controller.signal,
    }).catch(() => "aborted");
    // The request waits in getUserId; its client leaves.
    while (!handled) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    expect(await aborted).toBe("aborted");
    // The handler of the client that left ends without waiting for getUserIdMs (60 s).
    await handled;
    expect(errors).toEqual([]);
    settle?.("u");
    expect(backend.requests).toHaveLength(0);
  });
});

/**
 * The fake Ollama server's own tests: each behaviour names the file and function of Ollama's
 * source (`ollama/ollama` v0.33.0-rc2) it follows. Raw HTTP, no backend in between.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  OLLAMA_BUSY_MESSAGE,
  parseGoDuration,
  startFakeOllama,
  textSteps,
  type FakeOllama,
  type FakeOllamaOptions,
} from "../helpers/fake-ollama.js";

const servers: FakeOllama[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()?.close();
});

async function fake(options: FakeOllamaOptions): Promise<FakeOllama> {
  const server = await startFakeOllama(options);
  servers.push(server);
  return server;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
  json: () => Record<string, any>;
  lines: () => Array<Record<string, any>>;
}

async function post(server: FakeOllama, path: string, body: unknown, signal?: AbortSignal): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, { method: "POST", body: JSON.stringify(body), ...(signal ? { signal } : {}) });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text,
    json: () => JSON.parse(text),
    lines: () =>
      text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

const user = (content = "hi") => [{ role: "user", content }];
const chat = (server: FakeOllama, body: Record<string, unknown>, signal?: AbortSignal) =>
  post(server, "/api/chat", { messages: user(), ...body }, signal);
const load = (server: FakeOllama, body: Record<string, unknown>) => post(server, "/api/chat", { messages: [], ...body });
const ps = async (server: FakeOllama) =>
  ((await (await fetch(`${server.url}/api/ps`)).json()) as { models: Array<Record<string, any>> }).models;
const events = (server: FakeOllama, type: string) => server.log.filter((e) => e.type === type);
const order = (server: FakeOllama) => server.log.map((e) => `${e.type}${e.index === undefined ? "" : `#${e.index}`}`);

describe("fake Ollama: request binding (server/routes.go ChatHandler ShouldBindJSON; api/types.go Duration, ThinkValue)", () => {
  it("time.ParseDuration grammar: no trimming, a unit is required except for 0, the error texts Go gives", () => {
    expect(parseGoDuration("30m")).toEqual({ ns: 1_800_000_000_000 });
    expect(parseGoDuration("1h30m")).toEqual({ ns: 5_400_000_000_000 });
    expect(parseGoDuration("1.5h")).toEqual({ ns: 5_400_000_000_000 });
    expect(parseGoDuration("0")).toEqual({ ns: 0 });
    expect(parseGoDuration("-1m")).toEqual({ ns: -60_000_000_000 });
    expect(parseGoDuration(" 30m")).toEqual({ error: 'time: invalid duration " 30m"' });
    expect(parseGoDuration("30")).toEqual({ error: 'time: missing unit in duration "30"' });
    expect(parseGoDuration("10 minutes")).toEqual({ error: 'time: unknown unit " minutes" in duration "10 minutes"' });
    expect(parseGoDuration("")).toEqual({ error: 'time: invalid duration ""' });
  });

  it("an invalid keep_alive is 400 with Go's text, before any load (Duration.UnmarshalJSON)", async () => {
    const server = await fake({ models: { a: {} } });
    for (const [keepAlive, error] of [
      [" 30m", 'time: invalid duration " 30m"'],
      ["30", 'time: missing unit in duration "30"'],
      [true, "Unsupported type: 'bool'"],
    ] as const) {
      const answer = await chat(server, { model: "a", keep_alive: keepAlive });
      expect(answer.status).toBe(400);
      expect(answer.json()).toEqual({ error });
      expect((await load(server, { model: "a", keep_alive: keepAlive })).status).toBe(400);
    }
    expect(server.loadCounts).toEqual({});
  });

  it("an invalid think value is 400 (ThinkValue.UnmarshalJSON); the levels and booleans are accepted", async () => {
    const server = await fake({ models: { qwen3: { thinking: "Hmm." } } });
    const bad = await chat(server, { model: "qwen3", think: "extreme" });
    expect(bad.status).toBe(400);
    expect(bad.json().error).toBe('invalid think value: "extreme" (must be "high", "medium", "low", "max", true, or false)');
    for (const think of [true, false, "low", "medium", "high", "max"])
      expect((await chat(server, { model: "qwen3", think })).status).toBe(200);
  });

  it("a missing model is 400 model is required", async () => {
    const server = await fake({ models: { a: {} } });
    expect((await chat(server, {})).json()).toEqual({ error: "model is required" });
  });
});

describe("fake Ollama: model names (types/model/name.go ParseName, DisplayShortest; server/routes.go getExistingName, getModel, PsHandler)", () => {
  it("chat answers 404 model 'x' not found with the name as sent (ChatHandler getModel); embed the older text (EmbedHandler handleScheduleError)", async () => {
    const server = await fake({ models: { a: {} } });
    const c = await chat(server, { model: "mistral" });
    expect([c.status, c.json()]).toEqual([404, { error: "model 'mistral' not found" }]);
    const e = await post(server, "/api/embed", { model: "mistral", input: ["x"] });
    expect([e.status, e.json()]).toEqual([404, { error: 'model "mistral" not found, try pulling it first' }]);
  });

  it("matches names case-insensitively and in full form; /api/ps shows the shortest form with the tag", async () => {
    const server = await fake({ models: { "llama3.2": {}, "me/custom:7b": {}, "example.com:5000/team/big": {} } });
    expect((await chat(server, { model: "Registry.Ollama.AI/library/LLAMA3.2:latest" })).status).toBe(200);
    expect((await chat(server, { model: "library/llama3.2" })).status).toBe(200);
    expect((await chat(server, { model: "ME/custom:7B" })).status).toBe(200);
    expect((await chat(server, { model: "example.com:5000/team/big" })).status).toBe(200);
    expect(server.loadCounts).toEqual({ "llama3.2": 1, "me/custom:7b": 1, "example.com:5000/team/big": 1 });
    expect((await ps(server)).map((m) => m.name).sort()).toEqual(["example.com:5000/team/big:latest", "llama3.2:latest", "me/custom:7b"]);
  });
});

describe("fake Ollama: capabilities (server/routes.go ChatHandler, scheduleRunner; server/images.go CheckCapabilities)", () => {
  it("a thinking model thinks when think is omitted, not with think: false", async () => {
    const server = await fake({ models: { qwen3: { thinking: "The user greets me.", reply: "Hi!" } } });
    const omitted = (await chat(server, { model: "qwen3" })).lines();
    expect(omitted.map((l) => l.message.thinking ?? "").join("")).toBe("The user greets me.");
    const off = (await chat(server, { model: "qwen3", think: false })).lines();
    expect(off.some((l) => l.message.thinking)).toBe(false);
    expect(off.map((l) => l.message.content).join("")).toBe("Hi!");
    const level = (await chat(server, { model: "qwen3", think: "low" })).lines();
    expect(level.some((l) => l.message.thinking)).toBe(true);
  });

  it('think: true or a level on a model without the capability is 400 "x" does not support thinking; false is fine', async () => {
    const server = await fake({ models: { "llama3.2": {} } });
    for (const think of [true, "high"]) {
      const answer = await chat(server, { model: "llama3.2", think });
      expect([answer.status, answer.json()]).toEqual([400, { error: '"llama3.2" does not support thinking' }]);
    }
    expect((await chat(server, { model: "llama3.2", think: false })).status).toBe(200);
    expect(server.loadCounts).toEqual({ "llama3.2": 1 });
  });

  it("tools on a model without the tools capability are 400 with the full name; an embedding model does not support chat", async () => {
    const server = await fake({
      models: { "llama3.2": { capabilities: ["completion"] }, "nomic-embed-text": { capabilities: ["embedding"] } },
    });
    const tools = [{ type: "function", function: { name: "f", parameters: { type: "object" } } }];
    const t = await chat(server, { model: "llama3.2", tools });
    expect([t.status, t.json()]).toEqual([400, { error: "registry.ollama.ai/library/llama3.2:latest does not support tools" }]);
    const e = await chat(server, { model: "nomic-embed-text" });
    expect([e.status, e.json()]).toEqual([400, { error: '"nomic-embed-text" does not support chat' }]);
    expect(server.loadCounts).toEqual({});
  });
});

describe("fake Ollama: loads (server/sched.go load, processPending; llm/llama_server.go WaitUntilRunning)", () => {
  it('an empty chat loads the model and answers done_reason "load" as one JSON object whatever stream says', async () => {
    const server = await fake({ models: { a: {} } });
    const answer = await load(server, { model: "a", stream: true });
    expect(answer.contentType).toContain("application/json");
    expect(answer.json()).toMatchObject({ model: "a", message: { role: "assistant", content: "" }, done: true, done_reason: "load" });
    expect(server.loadedModels()).toEqual(["a:latest"]);
  });

  it("a client that goes away during the load: the load is discarded, nothing is listed, the next request loads again", async () => {
    const server = await fake({ models: { a: { loadDelayMs: 10_000 } } });
    const controller = new AbortController();
    const pending = chat(server, { model: "a" }, controller.signal).catch((error: unknown) => error);
    await vi.waitFor(() => expect(events(server, "load-start")).toHaveLength(1));
    controller.abort();
    await pending;
    await vi.waitFor(() => expect(server.discardedLoads).toEqual({ a: 1 }));
    expect(await ps(server)).toEqual([]);
    server.setModel("a", { loadDelayMs: 0 });
    expect((await chat(server, { model: "a" })).status).toBe(200);
    expect(server.loadCounts).toEqual({ a: 2 });
    expect(server.log.filter((e) => e.type.startsWith("load")).map((e) => e.type)).toEqual([
      "load-start",
      "load-discarded",
      "load-start",
      "load-done",
    ]);
  });

  it("with discardAbortedLoad: false (a server that keeps such loads) the model stays loaded", async () => {
    const server = await fake({ models: { a: { loadDelayMs: 150, discardAbortedLoad: false } } });
    const controller = new AbortController();
    const pending = chat(server, { model: "a" }, controller.signal).catch(() => undefined);
    await vi.waitFor(() => expect(events(server, "load-start")).toHaveLength(1));
    controller.abort();
    await pending;
    await vi.waitFor(() => expect(server.loadedModels()).toEqual(["a:latest"]));
    expect(server.discardedLoads).toEqual({});
  });

  it("a request that arrives while its model is loading waits for that load (one processPending loop)", async () => {
    const server = await fake({ models: { a: { loadDelayMs: 200 } } });
    const loading = load(server, { model: "a" });
    await vi.waitFor(() => expect(events(server, "load-start")).toHaveLength(1));
    const answer = await chat(server, { model: "a" });
    await loading;
    expect(answer.status).toBe(200);
    expect(server.loadCounts).toEqual({ a: 1 });
    expect(order(server).indexOf("load-done#0")).toBeLessThan(order(server).indexOf("first-byte#1"));
    // its load_duration is the time to get the runner, the wait for the load included (checkpointLoaded − checkpointStart)
    const final = answer.lines().at(-1)!;
    expect(final.load_duration).toBeLessThanOrEqual(final.total_duration);
  });

  it("loads happen one at a time: a load of another model waits for the one in progress", async () => {
    const server = await fake({ models: { a: { loadDelayMs: 150 }, b: {} } });
    const first = load(server, { model: "a" });
    await vi.waitFor(() => expect(events(server, "load-start")).toHaveLength(1));
    await load(server, { model: "b" });
    await first;
    expect(order(server).filter((e) => e.startsWith("load"))).toEqual(["load-start#0", "load-done#0", "load-start#1", "load-done#1"]);
  });

  it("a load that fails is 500 with the runner's text (handleScheduleError default)", async () => {
    const server = await fake({ models: { a: { loadError: "llama runner process has terminated: exit status 2" } } });
    const answer = await chat(server, { model: "a" });
    expect([answer.status, answer.json()]).toEqual([500, { error: "llama runner process has terminated: exit status 2" }]);
    expect(server.loadedModels()).toEqual([]);
  });
});

describe("fake Ollama: reloads (server/sched.go needsReload, processPending, processCompleted; api/types.go Runner)", () => {
  it("a request with other runner options waits for the in-flight request, then the model reloads", async () => {
    const server = await fake({ models: { a: { reply: "one two three four", chunkDelayMs: 40 } } });
    const first = chat(server, { model: "a", options: { num_ctx: 2048 } });
    await vi.waitFor(() => expect(events(server, "first-byte")).toHaveLength(1));
    const second = await chat(server, { model: "a", options: { num_ctx: 8192 } });
    await first;
    expect(second.status).toBe(200);
    expect(server.reloads).toEqual({ a: 1 });
    expect(order(server)).toEqual([
      "load-start#0",
      "load-done#0",
      "first-byte#0",
      "reload#1",
      "end#0",
      "unload",
      "load-start#1",
      "load-done#1",
      "first-byte#1",
      "end#1",
    ]);
    expect((await ps(server))[0]!.context_length).toBe(8192);
  });

  it("which options reload: num_gpu < 0 never, removed options never, num_ctx clamped to the training context, draft_num_predict does", async () => {
    const server = await fake({ models: { a: { contextLength: 8192 } } });
    await chat(server, { model: "a", options: { num_gpu: 20 } });
    await chat(server, { model: "a", options: { num_gpu: -1 } });
    await chat(server, { model: "a", options: { num_gpu: 20, use_mlock: true, low_vram: true, temperature: 0.1, num_predict: 5 } });
    expect(server.reloads).toEqual({});
    await chat(server, { model: "a", options: { num_gpu: 20, num_ctx: 65_536 } });
    expect(server.reloads).toEqual({ a: 1 });
    await chat(server, { model: "a", options: { num_gpu: 20, num_ctx: 131_072 } });
    expect(server.reloads).toEqual({ a: 1 });
    await chat(server, { model: "a", options: { num_gpu: 20, num_ctx: 131_072, draft_num_predict: 8 } });
    expect(server.reloads).toEqual({ a: 2 });
  });

  it("automatic num_ctx on both sides is never compared; a wrong option type is 500 (Options.FromMap)", async () => {
    const server = await fake({ models: { a: {} } });
    await chat(server, { model: "a" });
    await chat(server, { model: "a", options: { temperature: 0.5 } });
    expect(server.reloads).toEqual({});
    const bad = await chat(server, { model: "a", options: { num_ctx: "4096" } });
    expect([bad.status, bad.json()]).toEqual([500, { error: 'option "num_ctx" must be of type integer' }]);
  });
});

describe("fake Ollama: parallel requests (envconfig NumParallel; llm/llama_server.go Completion sem.Acquire)", () => {
  it("OLLAMA_NUM_PARALLEL is 1 by default: a second request sends no byte until the first ends", async () => {
    const server = await fake({ models: { a: { reply: "one two three", chunkDelayMs: 40 } } });
    await load(server, { model: "a" });
    const [x, y] = await Promise.all([chat(server, { model: "a" }), chat(server, { model: "a" })]);
    expect([x.status, y.status]).toEqual([200, 200]);
    const log = order(server).slice(2);
    expect(log).toEqual(["first-byte#1", "slot-wait#2", "end#1", "first-byte#2", "end#2"]);
    expect(server.maxWaiting).toBe(1);
  });

  it("with numParallel 2 two requests stream at once", async () => {
    const server = await fake({ models: { a: { reply: "one two three", chunkDelayMs: 40 } }, numParallel: 2 });
    await load(server, { model: "a" });
    await Promise.all([chat(server, { model: "a" }), chat(server, { model: "a" })]);
    const log = order(server);
    expect(log.indexOf("first-byte#2")).toBeLessThan(log.indexOf("end#1"));
    expect(events(server, "slot-wait")).toEqual([]);
  });
});

describe("fake Ollama: the queue and eviction (server/sched.go getRunner, ErrMaxQueue, findRunnerToUnload)", () => {
  it("a full queue answers 503 with Ollama's text; a warm model with the same options skips the queue", async () => {
    const server = await fake({ models: { a: {}, b: { loadDelayMs: 300 } }, maxQueue: 1 });
    await load(server, { model: "a" });
    const loading = load(server, { model: "b" });
    await vi.waitFor(() => expect(events(server, "load-start")).toHaveLength(2));
    const queued = load(server, { model: "b", options: { num_ctx: 8192 } });
    await vi.waitFor(() => expect(server.waiting).toBe(2));
    const busy = await load(server, { model: "b", options: { num_ctx: 2048 } });
    expect([busy.status, busy.json()]).toEqual([503, { error: OLLAMA_BUSY_MESSAGE }]);
    expect((await chat(server, { model: "a" })).status).toBe(200);
    await Promise.all([loading, queued]);
  });

  it("OLLAMA_MAX_LOADED_MODELS: a load beyond it evicts the idle model with the shortest keep_alive", async () => {
    const server = await fake({ models: { a: {}, b: {}, c: {} }, maxLoadedModels: 2 });
    await load(server, { model: "a", keep_alive: "1h" });
    await load(server, { model: "b", keep_alive: "10m" });
    await load(server, { model: "c", keep_alive: "30m" });
    expect(server.loadedModels().sort()).toEqual(["a:latest", "c:latest"]);
    expect(order(server)).toContain("evict");
  });
});

describe("fake Ollama: keep_alive (server/sched.go useLoadedRunner, processCompleted, expireRunner; ChatHandler unload)", () => {
  it('every zero form unloads: 0, 0.0, "0", "0s", "0m", "-0s"', async () => {
    const server = await fake({ models: { a: {} } });
    for (const zero of [0, 0.0, "0", "0s", "0m", "-0s"]) {
      await load(server, { model: "a" });
      expect(server.loadedModels()).toEqual(["a:latest"]);
      const answer = await load(server, { model: "a", keep_alive: zero });
      expect(answer.json()).toMatchObject({ done: true, done_reason: "unload" });
      await vi.waitFor(() => expect(server.loadedModels()).toEqual([]));
    }
  });

  it("an omitted keep_alive keeps the previous one; OLLAMA_KEEP_ALIVE (5m) applies only at load", async () => {
    const server = await fake({ models: { a: {}, b: {} } });
    await load(server, { model: "a", keep_alive: "1h" });
    await chat(server, { model: "a" });
    await load(server, { model: "b" });
    const byName = Object.fromEntries((await ps(server)).map((m) => [m.name, new Date(m.expires_at).getTime() - Date.now()]));
    expect(byName["a:latest"]).toBeGreaterThan(30 * 60_000);
    expect(byName["b:latest"]).toBeLessThanOrEqual(5 * 60_000);
  });

  it("an unload while a request streams waits for it; keep_alive: -1 is forever; /api/ps lists the latest expiry first", async () => {
    const server = await fake({ models: { a: { reply: "one two three four", chunkDelayMs: 40 }, b: {}, c: {} } });
    await load(server, { model: "b", keep_alive: "10m" });
    await load(server, { model: "c", keep_alive: -1 });
    const streaming = chat(server, { model: "a", keep_alive: "1h" });
    await vi.waitFor(() => expect(events(server, "first-byte")).toHaveLength(1));
    expect((await ps(server)).map((m) => m.name)).toEqual(["c:latest", "a:latest", "b:latest"]);
    expect(new Date((await ps(server))[0]!.expires_at).getFullYear()).toBeGreaterThan(new Date().getFullYear() + 200);
    expect((await load(server, { model: "a", keep_alive: 0 })).json()).toMatchObject({ done_reason: "unload" });
    expect(server.loadedModels()).toContain("a:latest");
    await streaming;
    await vi.waitFor(() => expect(server.loadedModels()).not.toContain("a:latest"));
    const log = order(server);
    expect(log.indexOf("unload")).toBeGreaterThan(log.indexOf("end#2"));
  });

  it("keep_alive: 0 on a chat unloads the model once the answer is done", async () => {
    const server = await fake({ models: { a: {} } });
    await chat(server, { model: "a", keep_alive: 0 });
    await vi.waitFor(() => expect(server.loadedModels()).toEqual([]));
  });
});

describe("fake Ollama: the answer (server/routes.go ChatHandler, streamResponse; api/types.go ChatResponse, Metrics, ToolCall)", () => {
  it("NDJSON chunks, then a final chunk with done_reason and the metrics in ns; load_duration ≤ total_duration", async () => {
    const server = await fake({ models: { a: { reply: "Hello there" } } });
    const answer = await chat(server, { model: "a" });
    expect(answer.contentType).toBe("application/x-ndjson");
    const lines = answer.lines();
    expect(lines.slice(0, -1).every((l) => l.done === false && l.message.role === "assistant" && !("eval_count" in l))).toBe(true);
    const final = lines.at(-1)!;
    expect(final).toMatchObject({ done: true, done_reason: "stop", message: { role: "assistant", content: "" }, eval_count: 2 });
    expect(final.load_duration).toBeLessThanOrEqual(final.total_duration);
  });

  it("zero metrics are left out (Metrics fields are omitempty)", async () => {
    const server = await fake({ models: { a: {} }, script: () => [{ type: "done" }] });
    const final = (await chat(server, { model: "a" })).lines().at(-1)!;
    expect(final).not.toHaveProperty("eval_count");
    expect(final).not.toHaveProperty("eval_duration");
    expect(final).toHaveProperty("prompt_eval_count");
  });

  it("an error before any output is an HTTP status with a JSON body; after output it is an {error} line (streamResponse)", async () => {
    const server = await fake({
      models: { a: {} },
      script: (body) =>
        body.messages?.[0]?.content === "early"
          ? [{ type: "error-line", status: 400, error: "the prompt is longer than the context length currently available to the model" }]
          : [...textSteps("Once upon"), { type: "error-line", error: "model runner has unexpectedly stopped" }],
    });
    const early = await post(server, "/api/chat", { model: "a", messages: user("early") });
    expect([early.status, early.contentType]).toEqual([400, "application/json; charset=utf-8"]);
    expect(early.json()).toEqual({ error: "the prompt is longer than the context length currently available to the model" });
    const late = await chat(server, { model: "a" });
    expect(late.status).toBe(200);
    expect(late.lines().at(-1)).toEqual({ error: "model runner has unexpectedly stopped" });
  });

  it("tool calls carry an id (toolCallId: call_ + 8 characters) and function.index; on their own chunk or on the done chunk", async () => {
    const calls = [{ function: { name: "get_weather", arguments: { city: "Tokyo" } } }];
    const server = await fake({
      models: { own: { reply: "", toolCalls: calls, toolCallsOnFinal: false }, final: { reply: "", toolCalls: calls } },
    });
    const own = (await chat(server, { model: "own" })).lines();
    expect(own[0]).toMatchObject({
      done: false,
      message: {
        content: "",
        tool_calls: [
          { id: expect.stringMatching(/^call_[a-z0-9]{8}$/), function: { index: 0, name: "get_weather", arguments: { city: "Tokyo" } } },
        ],
      },
    });
    expect(own.at(-1)).toMatchObject({ done: true, done_reason: "stop" });
    const final = (await chat(server, { model: "final" })).lines();
    expect(final.at(-1)!.message.tool_calls[0].id).toMatch(/^call_[a-z0-9]{8}$/);
  });

  it("text on the done chunk (the tool parser's buffered text) and silence while a tool call is generated (tools/tools.go Parser.Add)", async () => {
    const server = await fake({
      models: {
        a: {
          reply: "Let me check.",
          textOnDone: " tail",
          toolCalls: [{ function: { name: "f", arguments: {} } }],
          toolCallsOnFinal: false,
          toolCallGapMs: 50,
        },
      },
    });
    const lines = (await chat(server, { model: "a" })).lines();
    // nothing is sent between the text and the tool call: the gap is silent
    expect(lines.map((l) => (l.done ? "done" : l.message.tool_calls ? "tool" : "text"))).toEqual(["text", "text", "text", "tool", "done"]);
    expect(lines.at(-1)!.message.content).toBe(" tail");
  });
});

describe("fake Ollama: embeddings (server/routes.go EmbedHandler)", () => {
  it("an empty input loads the model and answers no vectors and no metrics; vectors are L2-normalised", async () => {
    const server = await fake({ models: { e: { capabilities: ["embedding"] } }, embed: () => [3, 4] });
    for (const input of [[], ""])
      expect((await post(server, "/api/embed", { model: "e", input })).json()).toEqual({ model: "e", embeddings: [] });
    expect(server.loadedModels()).toEqual(["e:latest"]);
    const answer = (await post(server, "/api/embed", { model: "e", input: ["x"] })).json();
    expect(answer.embeddings).toEqual([[0.6, 0.8]]);
    expect(answer.load_duration).toBeGreaterThan(0);
  });
});

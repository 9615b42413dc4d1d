import { connect, createServer, type Server, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { dedupeBackend } from "../../src/backends/dedupe.js";
import { backendPool, defaultThreadKey, isHostFailure, type BackendPool } from "../../src/backends/pool.js";
import { createZoePipeline, EventType, type AGUIEvent, type ChatRequest, type ModelBackend } from "../../src/index.js";
import { ollamaBackend, type OllamaBackendOptions } from "../../src/ollama/index.js";
import { scriptedBackend, textChunks, type ScriptedBackend } from "../../src/testing/index.js";
import { expectValidStream, runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { startFakeOllama, type FakeModel, type FakeOllama, type FakeOllamaOptions } from "../helpers/fake-ollama.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { ask, drain, failure, onCleanup } from "../ollama/helpers.js";

const REPLY = "one two three four five six seven eight";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function fakes(n: number, model: FakeModel = { reply: REPLY }, extra: Omit<FakeOllamaOptions, "models"> = {}): Promise<FakeOllama[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => startFakeOllama({ models: { "llama3.2": model }, ...extra })));
  onCleanup(async () => void (await Promise.all(servers.map((s) => s.close()))));
  return servers;
}

function poolOf(urls: string[], options: Parameters<typeof backendPool>[1] = {}, ollama: OllamaBackendOptions = {}): BackendPool {
  const pool = backendPool(
    urls.map((url, i) => ({ name: `h${i}`, backend: ollamaBackend({ host: url, ...ollama }) })),
    options,
  );
  onCleanup(() => pool.close());
  return pool;
}

function pipelineOn(backend: ModelBackend) {
  const pipeline = createZoePipeline({ backend, router: fixedRouter("chat", "llama3.2") });
  onCleanup(() => pipeline.close());
  return pipeline;
}

/** A TCP forwarder on a fixed port: stop it (connections refused / dropped) and start it again on the same port. */
async function proxyTo(target: number) {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  const start = async () => {
    server = createServer((client) => {
      const upstream = connect(target, "127.0.0.1");
      sockets.add(client);
      sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await start();
  onCleanup(stop);
  return { url: () => `http://127.0.0.1:${port}`, start, stop };
}

const finished = (events: AGUIEvent[]) => terminal(events).type === EventType.RUN_FINISHED;

describe("backendPool", () => {
  it("a thread stays on its host: turn 2 goes to the host of turn 1; new threads spread", async () => {
    const servers = await fakes(3);
    const pool = poolOf(servers.map((s) => s.url));
    const pipeline = pipelineOn(pool);
    const turn = (threadId: string, message: string) => runValid(pipeline.run({ userId: "ada", threadId, message }));
    for (const t of ["a", "b", "c"]) expect(finished(await turn(t, `Hello from thread ${t}`))).toBe(true);
    // three idle hosts, three new threads: one each (fewest threads wins a tie on load)
    expect(servers.map((s) => s.chats().length)).toEqual([1, 1, 1]);
    const hostOf = (t: string) =>
      servers.findIndex((s) => s.chats().some((r) => r.body!.messages!.some((m) => m.content.includes(`thread ${t}`))));
    const before = servers.map((s) => s.chats().length);
    for (const t of ["a", "b", "c"]) {
      const events = await turn(t, `Second turn of ${t}`);
      expect(finished(events)).toBe(true);
    }
    for (const t of ["a", "b", "c"]) {
      const host = servers[hostOf(t)]!;
      const second = host.chats().find((r) => r.body!.messages!.at(-1)!.content.includes(`Second turn of ${t}`));
      expect(second, `turn 2 of ${t} on the host of turn 1`).toBeDefined();
      // it is the same conversation: the history of turn 1 is in the prompt
      expect(second!.body!.messages!.length).toBeGreaterThan(2);
    }
    expect(servers.map((s, i) => s.chats().length - before[i]!)).toEqual([1, 1, 1]);
    expect(pool.stats().map((s) => s.threads)).toEqual([1, 1, 1]);
  });

  it("a new thread goes to the least busy host, while a busy host keeps its own thread", async () => {
    const servers = await fakes(2, { reply: REPLY, chunkDelayMs: 40 });
    const pool = poolOf(servers.map((s) => s.url));
    const s = () => new AbortController().signal;
    const long = drain(pool.chat(ask("thread one"), { signal: s() }));
    await sleep(30);
    expect(pool.stats().map((h) => h.inFlight)).toEqual([1, 0]);
    const other = drain(pool.chat(ask("thread two"), { signal: s() }));
    await sleep(30);
    expect(pool.stats().map((h) => h.inFlight)).toEqual([1, 1]);
    // turn 2 of thread one (same start, more messages) goes to h0 although both are busy
    const followUp: ChatRequest = {
      model: "llama3.2",
      messages: [...ask("thread one").messages, { role: "assistant", content: REPLY }, { role: "user", content: "and then?" }],
    };
    const third = drain(pool.chat(followUp, { signal: s() }));
    await sleep(30);
    expect(pool.stats().map((h) => h.inFlight)).toEqual([2, 1]);
    // a new thread now goes to h1 (one in flight against two)
    const fourth = drain(pool.chat(ask("thread three"), { signal: s() }));
    await Promise.all([long, other, third, fourth]);
    const contents = (srv: FakeOllama) => srv.chats().map((r) => r.body!.messages!.at(-1)!.content);
    expect(contents(servers[0]!)).toEqual(["thread one", "and then?"]);
    expect(contents(servers[1]!)).toEqual(["thread two", "thread three"]);
    expect(pool.stats().map((h) => h.inFlight)).toEqual([0, 0]);
  });

  it("a host killed before its first chunk loses no run: they complete on the others, every stream valid", async () => {
    const servers = await fakes(3, { reply: REPLY, firstByteDelayMs: 250, chunkDelayMs: 5 });
    // Three requests in flight per host: the backend must send them at once (its default is one).
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 0 },
      { concurrency: 3 },
    );
    const pipeline = pipelineOn(pool);
    const runs = Array.from({ length: 9 }, (_, i) =>
      runValid(pipeline.run({ userId: "ada", threadId: `t${i}`, message: `Question number ${i}` })),
    );
    // Wait until every request reached its server (each is held there by firstByteDelayMs).
    const t0 = Date.now();
    while (servers.some((s) => s.chats().length < 3) && Date.now() - t0 < 5_000) await sleep(10);
    expect(pool.stats().map((h) => h.inFlight)).toEqual([3, 3, 3]);
    await servers[0]!.kill();
    const all = await Promise.all(runs);
    for (const events of all) {
      expect(terminal(events)).toMatchObject({ type: EventType.RUN_FINISHED, outcome: { type: "success" } });
      expect(textOf(events)).toBe(REPLY);
    }
    expect(servers[0]!.chats()).toHaveLength(3);
    expect(servers[0]!.chats().every((r) => !r.finished)).toBe(true);
    expect(servers[1]!.chats().length + servers[2]!.chats().length).toBe(9);
    const [dead, ...alive] = pool.stats();
    expect(dead).toMatchObject({ healthy: false, failures: 3, inFlight: 0, threads: 0 });
    expect(dead!.coolingUntil).toBeGreaterThan(Date.now());
    for (const h of alive) expect(h).toMatchObject({ healthy: true, failures: 0, inFlight: 0 });
    // the moved threads now stick to their new hosts
    expect(alive.reduce((n, h) => n + h.threads, 0)).toBe(9);
  });

  it("after the first chunk a host failure propagates (no half answer replayed) and the host cools down", async () => {
    const servers = await fakes(2, { reply: REPLY, chunkDelayMs: 50 });
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 0 },
    );
    const pipeline = pipelineOn(pool);
    const events: AGUIEvent[] = [];
    for await (const event of pipeline.run({ userId: "ada", threadId: "t", message: "Tell me" })) {
      events.push(event);
      if (event.type === EventType.TEXT_MESSAGE_CONTENT && textOf(events) === "one ") await servers[0]!.kill();
    }
    await expectValidStream(events);
    expect(textOf(events)).toBe("one ");
    expect(terminal(events)).toMatchObject({ type: EventType.RUN_ERROR, code: "CONNECTION_LOST" });
    expect(servers[1]!.chats()).toHaveLength(0);
    expect(pool.stats()[0]).toMatchObject({ healthy: false, failures: 1 });
  });

  it("HTTP 5xx and busy answers fail over; a missing model does not cool the host down", async () => {
    const [bad] = await fakes(
      1,
      { reply: REPLY },
      { script: () => [{ type: "http", status: 500, body: { error: "CUDA out of memory" } }] },
    );
    const [busy] = await fakes(1, { reply: REPLY }, { script: () => [{ type: "http", status: 503, body: { error: "server busy" } }] });
    const [good] = await fakes(1, { reply: REPLY });
    const pool = poolOf([bad!.url, busy!.url, good!.url], { healthCheckMs: 0 });
    const chunks = await drain(pool.chat(ask("hi"), { signal: new AbortController().signal }));
    expect(chunks.map((c) => (c.type === "text" ? c.text : "")).join("")).toBe(REPLY);
    expect([bad!.chats().length, busy!.chats().length, good!.chats().length]).toEqual([1, 1, 1]);
    expect(pool.stats().map((h) => h.healthy)).toEqual([false, false, true]);
    const { error } = await failure(pool.chat(ask("hi", "mistral"), { signal: new AbortController().signal }));
    expect(error).toMatchObject({ code: "MODEL_NOT_FOUND" });
    expect(pool.stats()[2]).toMatchObject({ healthy: true, failures: 0 });
  });

  it("when every host fails, the last error comes out with its code", async () => {
    const servers = await fakes(2, { reply: REPLY }, { script: () => [{ type: "http", status: 503, body: { error: "busy" } }] });
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 0 },
    );
    const { error } = await failure(pool.chat(ask("hi"), { signal: new AbortController().signal }));
    expect(error).toMatchObject({ code: "BACKEND_BUSY" });
    expect(servers.map((s) => s.chats().length)).toEqual([1, 1]);
  });

  it("a recovered host (restarted on the same port) is used again after a health check", async () => {
    const servers = await fakes(2);
    const proxy = await proxyTo(servers[0]!.port);
    const pool = poolOf([proxy.url(), servers[1]!.url], { cooldownMs: 100, healthCheckMs: 50 });
    const s = () => new AbortController().signal;
    await proxy.stop(); // host 0 goes down: connections refused
    await drain(pool.chat(ask("first thread"), { signal: s() }));
    expect(servers[1]!.chats()).toHaveLength(1);
    expect(pool.stats()[0]).toMatchObject({ healthy: false, failures: 1 });
    await sleep(250); // cooldown over, but the health checks fail: still out
    expect(pool.stats()[0]!.healthy).toBe(false);
    await drain(pool.chat(ask("second thread"), { signal: s() }));
    expect(servers[1]!.chats()).toHaveLength(2);
    await proxy.start(); // back on the same port
    const t0 = Date.now();
    while (!pool.stats()[0]!.healthy) {
      if (Date.now() - t0 > 3_000) throw new Error("host 0 never came back");
      await sleep(20);
    }
    expect(pool.stats()[0]!.coolingUntil).toBeUndefined();
    // a new thread goes to the recovered host (idle, no threads)
    await drain(pool.chat(ask("third thread"), { signal: s() }));
    expect(servers[0]!.chats().map((r) => r.body!.messages!.at(-1)!.content)).toEqual(["third thread"]);
  });

  it("with health checks off, a host comes back on probation when its cooldown ends", async () => {
    const servers = await fakes(2);
    const proxy = await proxyTo(servers[0]!.port);
    const pool = poolOf([proxy.url(), servers[1]!.url], { cooldownMs: 100, healthCheckMs: 0 });
    const s = () => new AbortController().signal;
    await proxy.stop();
    await drain(pool.chat(ask("one"), { signal: s() }));
    expect(pool.stats()[0]).toMatchObject({ healthy: false, failures: 1 });
    await proxy.start();
    await sleep(150);
    expect(pool.stats()[0]).toMatchObject({ healthy: true, coolingUntil: undefined });
    await drain(pool.chat(ask("two"), { signal: s() }));
    expect(servers[0]!.chats()).toHaveLength(1);
  });

  it("a custom health check toggles a host; a failing check cools a healthy host down", async () => {
    const servers = await fakes(2);
    const up = [true, true];
    const pool = poolOf(
      servers.map((s) => s.url),
      {
        cooldownMs: 0,
        healthCheckMs: 20,
        health: async (_backend, name) => up[Number(name.slice(1))]!,
      },
    );
    up[0] = false;
    await pool.checkHealth();
    expect(pool.stats().map((h) => h.healthy)).toEqual([false, true]);
    await drain(pool.chat(ask("a"), { signal: new AbortController().signal }));
    expect(servers.map((s) => s.chats().length)).toEqual([0, 1]);
    up[0] = true;
    await pool.checkHealth();
    expect(pool.stats().map((h) => h.healthy)).toEqual([true, true]);
    await drain(pool.chat(ask("b"), { signal: new AbortController().signal }));
    expect(servers.map((s) => s.chats().length)).toEqual([1, 1]);
  });

  it("a thread whose host fails moves to another host and stays there", async () => {
    const servers = await fakes(2);
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 0, cooldownMs: 60_000 },
    );
    const s = () => new AbortController().signal;
    await drain(pool.chat(ask("thread"), { signal: s() }));
    const key = defaultThreadKey(ask("thread"))!;
    expect(pool.hostOf(key)).toBe("h0");
    await servers[0]!.kill();
    await drain(pool.chat(ask("thread"), { signal: s() }));
    expect(pool.hostOf(key)).toBe("h1");
    expect(servers[1]!.chats()).toHaveLength(1);
  });

  it("threadKey override and sticky TTL", async () => {
    const servers = await fakes(2);
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 0, stickyTtlMs: 50, threadKey: (r) => r.model },
    );
    const s = () => new AbortController().signal;
    await drain(pool.chat(ask("x"), { signal: s() }));
    await drain(pool.chat(ask("y"), { signal: s() })); // same key (model): same host
    expect(servers.map((srv) => srv.chats().length)).toEqual([2, 0]);
    expect(pool.hostOf("llama3.2")).toBe("h0");
    await sleep(80);
    expect(pool.hostOf("llama3.2")).toBeUndefined();
    expect(pool.stats().map((h) => h.threads)).toEqual([0, 0]);
  });

  it("cancelling a pooled run closes its request and frees the slot; no failover on abort", async () => {
    const servers = await fakes(2, { reply: REPLY, chunkDelayMs: 40 });
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 0 },
    );
    for await (const chunk of pool.chat(ask("x"), { signal: new AbortController().signal })) {
      if (chunk.type === "text") break;
    }
    const request = servers[0]!.chats()[0]!;
    await request.closed;
    expect(request.closedByClient).toBe(true);
    const controller = new AbortController();
    const pending = failure(pool.chat(ask("y"), { signal: controller.signal }));
    const total = () => servers[1]!.chats().length + servers[0]!.chats().length;
    while (total() < 2) await sleep(5);
    controller.abort(new Error("stop"));
    expect((await pending).error).toMatchObject({ message: "stop" });
    const second = servers.flatMap((srv) => srv.chats()).find((r) => r.body!.messages!.at(-1)!.content === "y")!;
    await second.closed;
    expect(second.closedByClient).toBe(true);
    await sleep(20);
    expect(total()).toBe(2); // no failover after an abort
    expect(pool.stats().every((h) => h.inFlight === 0 && h.healthy)).toBe(true);
  });

  it("health checks probe each host with the default check, and close() stops them", async () => {
    const servers = await fakes(2);
    // cooldownMs 0: a check slower than its 20 ms limit on a busy machine is retried at the next tick.
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 20, cooldownMs: 0 },
    );
    const ps = () => servers.reduce((n, s) => n + s.requests.filter((r) => r.path === "/api/ps").length, 0);
    const t0 = Date.now();
    while (ps() < 4 && Date.now() - t0 < 3_000) await sleep(10);
    expect(ps()).toBeGreaterThanOrEqual(4);
    await pool.close();
    await sleep(30);
    const after = ps();
    await sleep(80);
    expect(ps()).toBe(after);
    await expect(drain(pool.chat(ask("x"), { signal: new AbortController().signal }))).rejects.toMatchObject({ code: "BACKEND_CLOSED" });
  });

  it("a second close() resolves only once every host is closed, as the first does", async () => {
    let closed = 0;
    const slow = (): ModelBackend => ({
      name: "slow",
      async *chat() {},
      close: () => new Promise<void>((resolve) => setTimeout(() => resolve(void closed++), 30)),
    });
    const pool = backendPool(
      [
        { name: "a", backend: slow() },
        { name: "b", backend: slow() },
      ],
      { healthCheckMs: 0 },
    );
    const first = pool.close();
    await pool.close();
    expect(closed).toBe(2);
    await first;
  });

  it("dedupeBackend over a pool: 20 identical concurrent runs make one request on one host", async () => {
    const servers = await fakes(2, { reply: REPLY, chunkDelayMs: 10 });
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 0 },
    );
    const pipeline = pipelineOn(dedupeBackend(pool));
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => runValid(pipeline.run({ userId: "ada", threadId: `t${i}`, message: "Same question" }))),
    );
    for (const events of runs) expect(textOf(events)).toBe(REPLY);
    expect(servers.map((s) => s.chats().length).sort()).toEqual([0, 1]);
  });

  it("a host whose chat() throws at once fails over and its slot is released", async () => {
    const [server] = await fakes(1);
    const broken: ModelBackend = {
      name: "broken",
      chat: () => {
        throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      },
    };
    const pool = backendPool(
      [
        { name: "broken", backend: broken },
        { name: "ok", backend: ollamaBackend({ host: server!.url }) },
      ],
      { healthCheckMs: 0 },
    );
    onCleanup(() => pool.close());
    await drain(pool.chat(ask("x"), { signal: new AbortController().signal }));
    expect(pool.stats()).toMatchObject([
      { name: "broken", inFlight: 0, healthy: false, failures: 1 },
      { name: "ok", inFlight: 0, healthy: true },
    ]);
  });

  it("passes loaded and prewarm over the hosts; classifies errors", async () => {
    const servers = await fakes(2);
    const pool = poolOf(
      servers.map((s) => s.url),
      { healthCheckMs: 0 },
    );
    const warm = await pool.prewarm!(["llama3.2", "nope"]);
    expect(warm[0]).toMatchObject({ model: "llama3.2", ok: true });
    expect(warm[1]).toMatchObject({ model: "nope", ok: false });
    expect(await pool.loaded!()).toEqual(["llama3.2:latest"]);
    expect(isHostFailure(Object.assign(new Error("x"), { code: "ECONNREFUSED" }))).toBe(true);
    expect(isHostFailure(new Error("plain"))).toBe(false);
    expect(() => backendPool([])).toThrow(RangeError);
  });

  it("prewarm pairs each host's results by model and host, never rejects, and a host that gave no result did not load it", async () => {
    const host = (name: string, prewarm: (models: string[]) => Promise<unknown>) => ({
      name,
      backend: { name, async *chat() {}, prewarm } as unknown as ModelBackend,
    });
    const loads = (ok: boolean, error?: string) => async (models: string[]) =>
      models.map((model) => ({ model, ok, loadMs: 5, ...(error ? { error } : {}) }));
    const pool = backendPool([host("gpu-a", loads(true)), host("gpu-b", async () => []), host("gpu-c", loads(false, "out of memory"))], {
      healthCheckMs: 0,
    });
    const [warm] = await pool.prewarm(["llama3.2"]);
    expect(warm).toMatchObject({ model: "llama3.2", ok: false });
    expect(warm?.error).toBe("gpu-b: it gave no result for this model; gpu-c: out of memory");
    // A host that answers with something that is not a list of results, or lists them in another order.
    const odd = backendPool(
      [
        host("gpu-a", async (models) => [...models].reverse().map((model) => ({ model, ok: true, loadMs: 1 }))),
        host("gpu-b", async () => undefined),
      ],
      { healthCheckMs: 0 },
    );
    const both = await odd.prewarm(["m1", "m2"]);
    expect(both.map((r) => [r.model, r.ok, r.error])).toEqual([
      ["m1", false, "gpu-b: it gave no result for this model"],
      ["m2", false, "gpu-b: it gave no result for this model"],
    ]);
    const fine = backendPool([host("gpu-a", async (models) => [...models].reverse().map((model) => ({ model, ok: true, loadMs: 1 })))], {
      healthCheckMs: 0,
    });
    expect((await fine.prewarm(["m1", "m2"])).map((r) => [r.model, r.ok])).toEqual([
      ["m1", true],
      ["m2", true],
    ]);
  });
});

describe("backendPool: the request knows its thread", () => {
  /** Hosts that record what they were asked; every answer ends with a done chunk. */
  function recordingHosts(n: number): ScriptedBackend[] {
    return Array.from({ length: n }, () => scriptedBackend({ script: [...textChunks("Noted."), { type: "done", doneReason: "stop" }] }));
  }
  const lastUser = (r: ChatRequest) => [...r.messages].reverse().find((m) => m.role === "user")?.content;

  it("10 turns of one thread all run on one host, although the messages' start changes from turn 3", async () => {
    const hosts = recordingHosts(3);
    const pool = backendPool(
      hosts.map((backend, i) => ({ name: `h${i}`, backend })),
      { healthCheckMs: 0 },
    );
    onCleanup(() => pool.close());
    const pipeline = pipelineOn(pool);
    // Other threads keep the other hosts busy with threads of their own, so a moved thread would show.
    for (const t of ["x", "y"])
      expect(finished(await runValid(pipeline.run({ userId: "bob", threadId: t, message: `Thread ${t}` })))).toBe(true);
    for (let turn = 1; turn <= 10; turn++) {
      const events = await runValid(pipeline.run({ userId: "ada", threadId: "long", message: `Turn ${turn} of the long thread` }));
      expect(finished(events)).toBe(true);
    }
    const served = hosts.map((h) => h.requests.filter((r) => r.threadId === "long").map(lastUser));
    const holder = served.findIndex((list) => list.length > 0);
    expect(served[holder]).toEqual(Array.from({ length: 10 }, (_, i) => `Turn ${i + 1} of the long thread`));
    expect(served.filter((list) => list.length > 0)).toHaveLength(1);
    // Every request carried its user and thread.
    const long = hosts.flatMap((h) => h.requests.filter((r) => r.threadId === "long"));
    expect(long.every((r) => r.userId === "ada")).toBe(true);
    // The key the pool used is the thread, not the messages: the messages' start did change.
    const keys = new Set(long.map((r) => defaultThreadKey(r)));
    expect(keys.size).toBe(1);
    expect(pool.hostOf([...keys][0]!)).toBe(`h${holder}`);
    const fromMessages = new Set(long.map(({ threadId: _t, userId: _u, ...rest }) => defaultThreadKey(rest)));
    expect(fromMessages.size).toBeGreaterThan(1);
  });

  it("the default key separates users with the same thread id, and falls back to the messages without one", () => {
    const a = defaultThreadKey({ ...ask("hi"), userId: "ada", threadId: "t" });
    const b = defaultThreadKey({ ...ask("hi"), userId: "bob", threadId: "t" });
    expect(a).not.toBe(b);
    expect(defaultThreadKey({ ...ask("other text"), userId: "ada", threadId: "t" })).toBe(a);
    expect(defaultThreadKey(ask("hi"))).toBe(defaultThreadKey({ ...ask("hi"), userId: "ada" }));
    expect(defaultThreadKey({ model: "m", messages: [{ role: "system", content: "s" }] })).toBeUndefined();
  });

  it("a custom threadKey receives the real thread: two interleaved threads of 10 turns keep a host each", async () => {
    const hosts = recordingHosts(2);
    const seen: Array<string | undefined> = [];
    const pool = backendPool(
      hosts.map((backend, i) => ({ name: `h${i}`, backend })),
      {
        healthCheckMs: 0,
        threadKey: (request) => {
          seen.push(request.threadId);
          return request.threadId === undefined ? undefined : `${request.userId}/${request.threadId}`;
        },
      },
    );
    onCleanup(() => pool.close());
    const pipeline = pipelineOn(pool);
    for (let turn = 1; turn <= 10; turn++) {
      for (const t of ["one", "two"]) {
        expect(finished(await runValid(pipeline.run({ userId: "ada", threadId: t, message: `Turn ${turn} of ${t}` })))).toBe(true);
      }
    }
    expect(seen).toHaveLength(20);
    expect(new Set(seen)).toEqual(new Set(["one", "two"]));
    const threadsOf = hosts.map((h) => new Set(h.requests.map((r) => r.threadId)));
    expect(threadsOf.map((set) => set.size)).toEqual([1, 1]);
    expect(hosts.map((h) => h.requests.length)).toEqual([10, 10]);
    expect(pool.hostOf("ada/one")).not.toBe(pool.hostOf("ada/two"));
  });
});

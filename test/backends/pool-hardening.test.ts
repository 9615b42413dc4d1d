import { afterEach, describe, expect, it, vi } from "vitest";
import { backendPool, defaultThreadKey, isHostFailure, type BackendPool, type BackendPoolOptions } from "../../src/backends/pool.js";
import { ModelError } from "../../src/errors/model-error.js";
import { createZoePipeline, EventType, type ChatChunk, type ChatRequest, type ModelBackend } from "../../src/index.js";
import { collect } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { ask, drain, onCleanup } from "../ollama/helpers.js";

const signal = () => new AbortController().signal;
const busy = (name: string) => new ModelError(`${name} is busy`, { code: "BACKEND_BUSY" });

/**
 * A backend that answers "from <name>" unless `down` says it is failing; counts its calls. Its
 * `host` is its name, so that the pool names it so.
 */
function fakeHost(
  name: string,
  down: Set<string> = new Set(),
  extra: Partial<ModelBackend> = {},
): ModelBackend & { host: string; calls: string[] } {
  const calls: string[] = [];
  return {
    name,
    host: name,
    calls,
    async *chat() {
      calls.push("chat");
      if (down.has(name)) throw busy(name);
      yield { type: "text", text: `from ${name}` };
      yield { type: "done" };
    },
    async embed(input) {
      calls.push("embed");
      if (down.has(name)) throw busy(name);
      return input.map(() => [name.length]);
    },
    ...extra,
  };
}

function poolOf(hosts: Parameters<typeof backendPool>[0], options: BackendPoolOptions = {}): BackendPool {
  const pool = backendPool(hosts, { healthCheckMs: 0, ...options });
  onCleanup(() => pool.close());
  return pool;
}

/** A promise and the function that settles it. */
function gate<T>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("backendPool: a health check that throws or does not return a promise", () => {
  it("a synchronous throw, a non-promise and a non-boolean answer count as failed checks; `true` as passed", async () => {
    const answers: Record<string, () => unknown> = {
      throws: () => {
        throw new Error("sync boom");
      },
      plainTrue: () => true,
      plainFalse: () => false,
      truthy: async () => "yes",
      rejects: async () => {
        throw new Error("async boom");
      },
    };
    const pool = poolOf(
      Object.keys(answers).map((name) => ({ name, backend: fakeHost(name) })),
      { health: ((_b: ModelBackend, name: string) => answers[name]!()) as NonNullable<BackendPoolOptions["health"]> },
    );
    await expect(pool.checkHealth()).resolves.toBeUndefined();
    expect(Object.fromEntries(pool.stats().map((s) => [s.name, s.healthy]))).toEqual({
      throws: false,
      plainTrue: true,
      plainFalse: false,
      truthy: false,
      rejects: false,
    });
  });

  it("the background timer survives a health check that throws synchronously (the host cools down)", async () => {
    vi.useFakeTimers();
    const pool = backendPool([{ name: "a", backend: fakeHost("a") }], {
      healthCheckMs: 1_000,
      health: () => {
        throw new Error("sync boom");
      },
    });
    onCleanup(() => pool.close());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(pool.stats()[0]).toMatchObject({ name: "a", healthy: false });
  });

  it("rejects a health, threadKey or isHostFailure that is not a function, with a TypeError", () => {
    const b = fakeHost("a");
    for (const key of ["health", "threadKey", "isHostFailure"] as const) {
      expect(() => backendPool([b], { healthCheckMs: 0, [key]: true } as BackendPoolOptions), key).toThrow(TypeError);
      expect(() => backendPool([b], { healthCheckMs: 0, [key]: true } as BackendPoolOptions), key).toThrow(`backendPool: \`${key}\``);
    }
  });
});

describe("backendPool: token counter", () => {
  const counterA = (text: string) => text.length;
  const counterB = (text: string) => 2 * text.length;

  it("one host: its counter is the pool's; the pipeline then counts with the tokenizer", async () => {
    const host = fakeHost("a", new Set(), { tokenCounter: (model) => (model === "m" ? counterA : undefined) });
    const pool = poolOf([host]);
    expect(pool.tokenCounter?.("m")).toBe(counterA);
    expect(pool.tokenCounter?.("other")).toBeUndefined();
    const pipeline = createZoePipeline({ backend: pool, router: fixedRouter("chat", "m") });
    onCleanup(() => pipeline.close());
    const events = await collect(pipeline.run({ userId: "u", threadId: "t", message: "hello there" }));
    const metrics = events.find((e) => e.type === EventType.CUSTOM && e.name === "zoe.metrics") as {
      value: { prompt: { counter: string } };
    };
    expect(metrics.value.prompt.counter).toBe("tokenizer");
  });

  it("several hosts: the same counter is shared; different ones give the largest count; any host without one gives none", () => {
    const same = poolOf([
      fakeHost("a", new Set(), { tokenCounter: () => counterA }),
      fakeHost("b", new Set(), { tokenCounter: () => counterA }),
    ]);
    expect(same.tokenCounter?.("m")).toBe(counterA);
    const mixed = poolOf([
      fakeHost("a", new Set(), { tokenCounter: () => counterA }),
      fakeHost("b", new Set(), { tokenCounter: () => counterB }),
    ]);
    expect(mixed.tokenCounter?.("m")?.("abc")).toBe(6);
    const notLoaded = poolOf([
      fakeHost("a", new Set(), { tokenCounter: () => counterA }),
      fakeHost("b", new Set(), { tokenCounter: () => undefined }),
    ]);
    expect(notLoaded.tokenCounter?.("m")).toBeUndefined();
    const without = poolOf([fakeHost("a", new Set(), { tokenCounter: () => counterA }), fakeHost("b")]);
    expect(without.tokenCounter).toBeUndefined();
  });
});

describe("backendPool: embed fails over like chat", () => {
  it("with every host cooling down, embed tries each one in turn and restores the host that answered", async () => {
    const down = new Set(["a", "b"]);
    const a = fakeHost("a", down);
    const b = fakeHost("b", down);
    const pool = poolOf([a, b], { cooldownMs: 60_000 });
    await expect(pool.embed!(["q"], { signal: signal() })).rejects.toMatchObject({ code: "BACKEND_BUSY" });
    expect(pool.stats().map((s) => s.healthy)).toEqual([false, false]);
    down.delete("b");
    a.calls.length = 0;
    b.calls.length = 0;
    expect(await pool.embed!(["q"], { signal: signal() })).toEqual([[1]]);
    expect(b.calls).toEqual(["embed"]);
    expect(pool.stats().map((s) => s.healthy)).toEqual([false, true]);
  });
});

describe("backendPool: a health check that began before a request failure", () => {
  it("does not end the cooldown that failure started", async () => {
    const down = new Set<string>();
    const check = gate<boolean>();
    const pool = poolOf([fakeHost("a", down), fakeHost("b", down)], { cooldownMs: 60_000, health: () => check.promise });
    const checking = pool.checkHealth(); // a is healthy when its check begins
    down.add("a");
    expect(await drain(pool.chat(ask("q1", "m", { threadId: "t1" }), { signal: signal() }))).toContainEqual({
      type: "text",
      text: "from b",
    });
    expect(pool.stats()[0]).toMatchObject({ name: "a", healthy: false, failures: 1 });
    check.open(true);
    await checking;
    expect(pool.stats()[0]!.healthy).toBe(false);
    expect(pool.stats()[0]!.coolingUntil).toBeGreaterThan(Date.now());
    expect(pool.stats()[1]!.healthy).toBe(true);
  });
});

describe("backendPool: default isHostFailure", () => {
  it.each(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CLOSED", "ENOTFOUND", "EAI_AGAIN", "ECONNABORTED"])(
    "%s is a host failure, also as the cause of a fetch error",
    (code) => {
      const direct = Object.assign(new Error(code), { code });
      expect(isHostFailure(direct)).toBe(true);
      expect(isHostFailure(new TypeError("fetch failed", { cause: direct }))).toBe(true);
    },
  );
});

describe("backendPool: bad hosts and options are refused at creation", () => {
  const b = fakeHost("b");
  it.each<[string, () => unknown, string]>([
    ["no hosts", () => backendPool(undefined as never), "backendPool: `hosts` must be an array"],
    ["a backend instead of an array", () => backendPool(b as never), "backendPool: `hosts` must be an array"],
    ["null", () => backendPool([null as never]), "backendPool: hosts[0]"],
    ["no backend", () => backendPool([b, { name: "a" } as never]), "backendPool: hosts[1]"],
    ["a backend without chat()", () => backendPool([{ name: "a", backend: {} as never }]), "backendPool: hosts[0].backend"],
    ["a name that is not a string", () => backendPool([{ name: 42 as never, backend: b }]), "backendPool: hosts[0].name"],
    ["an empty name", () => backendPool([{ name: "", backend: b }]), "backendPool: hosts[0].name"],
    ["options null", () => backendPool([b], null as never), "backendPool: `options`"],
    ["maxThreads 1.5", () => backendPool([b], { maxThreads: 1.5 }), "backendPool: `maxThreads`"],
    ["maxThreads Infinity", () => backendPool([b], { maxThreads: Number.POSITIVE_INFINITY }), "backendPool: `maxThreads`"],
  ])("%s", (_label, create, message) => {
    expect(create).toThrow(message);
  });

  it("host entries and hosts list have TypeErrors", () => {
    expect(() => backendPool([null as never])).toThrow(TypeError);
    expect(() => backendPool([{ name: "a", backend: {} as never }])).toThrow(TypeError);
  });

  it("a { backend } without a name is named after the backend's host, else host-<index>", () => {
    const withHost = Object.assign(fakeHost("x"), { host: "http://10.0.0.1:11434" });
    const bare: ModelBackend = { name: "y", chat: fakeHost("y").chat };
    const pool = poolOf([{ backend: withHost } as never, { backend: bare } as never]);
    expect(pool.stats().map((s) => s.name)).toEqual(["http://10.0.0.1:11434", "host-1"]);
  });
});

describe("backendPool: thread bookkeeping", () => {
  /** Count the steps of every Map iteration while `work` runs. */
  async function mapSteps(work: () => Promise<unknown>): Promise<number> {
    const proto = Object.getPrototypeOf(new Map().entries()) as { next: () => unknown };
    const next = proto.next;
    let steps = 0;
    proto.next = function (this: unknown) {
      steps++;
      return next.call(this);
    };
    try {
      await work();
    } finally {
      proto.next = next;
    }
    return steps;
  }

  it("placing a new thread does not walk every thread the pool remembers", async () => {
    const pool = poolOf([fakeHost("a"), fakeHost("b")], { maxThreads: 5_000 });
    for (let i = 0; i < 5_000; i++) await drain(pool.chat(ask(`q${i}`, "m", { threadId: `t${i}` }), { signal: signal() }));
    expect(pool.stats().reduce((n, s) => n + s.threads, 0)).toBe(5_000);
    // the pool is full: a new thread evicts the oldest one
    const steps = await mapSteps(() => drain(pool.chat(ask("new", "m", { threadId: "new" }), { signal: signal() })));
    expect(steps).toBeLessThan(100);
    expect(pool.stats().reduce((n, s) => n + s.threads, 0)).toBe(5_000);
  });

  it("per-host thread counts match a recount through many pins, evictions, expiries and host changes", async () => {
    vi.useFakeTimers();
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const down = new Set<string>();
    const names = ["a", "b", "c"];
    const pool = poolOf(
      names.map((n) => fakeHost(n, down)),
      { maxThreads: 20, stickyTtlMs: 1_000, cooldownMs: 300 },
    );
    const keys = Array.from({ length: 40 }, (_, i) => `t${i}`);
    const seen = new Set<string>();
    const recount = () => {
      const counts = Object.fromEntries(names.map((n) => [n, 0]));
      for (const key of seen) {
        const host = pool.hostOf(key);
        if (host !== undefined) counts[host]!++;
      }
      return counts;
    };
    for (let step = 0; step < 2_000; step++) {
      const r = random();
      if (r < 0.6) {
        const threadId = keys[Math.floor(random() * keys.length)]!;
        const request: ChatRequest = ask(threadId, "m", { threadId });
        seen.add(defaultThreadKey(request)!);
        await drain(pool.chat(request, { signal: signal() })).catch(() => []);
      } else if (r < 0.75) {
        await vi.advanceTimersByTimeAsync(Math.floor(random() * 400));
      } else if (r < 0.85) {
        const name = names[Math.floor(random() * names.length)]!;
        if (down.has(name)) down.delete(name);
        else down.add(name);
      } else {
        const stats = pool.stats();
        expect(Object.fromEntries(stats.map((s) => [s.name, s.threads])), `step ${step}`).toEqual(recount());
        expect(stats.reduce((n, s) => n + s.threads, 0)).toBeLessThanOrEqual(20);
      }
    }
  });
});

describe("backendPool: a host iterator whose return() throws", () => {
  it("a consumer leaving early does not get the host's error", async () => {
    const host: ModelBackend = {
      name: "h",
      chat() {
        let i = 0;
        const iterator: AsyncIterableIterator<ChatChunk> = {
          next: async () => (i++ < 3 ? { done: false, value: { type: "text", text: `w${i} ` } } : { done: true, value: undefined }),
          return: () => {
            throw new Error("socket already destroyed");
          },
          [Symbol.asyncIterator]: () => iterator,
        };
        return iterator;
      },
    };
    const pool = poolOf([host]);
    const got: ChatChunk[] = [];
    const read = async () => {
      for await (const chunk of pool.chat(ask("x"), { signal: signal() })) {
        got.push(chunk);
        break;
      }
    };
    await expect(read()).resolves.toBeUndefined();
    expect(got).toEqual([{ type: "text", text: "w1 " }]);
    expect(pool.stats()[0]!.inFlight).toBe(0);
  });
});

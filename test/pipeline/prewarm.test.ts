import { describe, expect, it } from "vitest";
import { createZoePipeline, type ModelBackend, type Router } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";

const router = (models: () => string[]): Router => ({
  route: () => ({ model: "m", kind: "chat", fastPath: false, reason: "test", options: {} }),
  models,
});

describe("pipeline.prewarm() never rejects (docs/options.md)", () => {
  it("passes on the backend's results, one per model the router can pick", async () => {
    const asked: string[][] = [];
    const backend: ModelBackend = {
      ...scriptedBackend({ script: textChunks("hi") }),
      prewarm: async (models) => {
        asked.push(models);
        return models.map((model) => ({ model, ok: true, loadMs: 5 }));
      },
    };
    const pipeline = createZoePipeline({ backend, router: router(() => ["a", "b"]) });
    expect(await pipeline.prewarm()).toEqual([
      { model: "a", ok: true, loadMs: 5 },
      { model: "b", ok: true, loadMs: 5 },
    ]);
    expect(asked).toEqual([["a", "b"]]);
    await pipeline.close();
  });

  it("a backend whose prewarm rejects or throws gives each model ok: false with the message", async () => {
    for (const prewarm of [
      async () => {
        throw new Error("boom");
      },
      () => {
        throw new Error("boom");
      },
    ]) {
      const backend = { ...scriptedBackend({ script: textChunks("hi") }), prewarm } as ModelBackend;
      const pipeline = createZoePipeline({ backend, router: router(() => ["a", "b"]) });
      expect(await pipeline.prewarm()).toEqual([
        { model: "a", ok: false, loadMs: 0, error: "boom" },
        { model: "b", ok: false, loadMs: 0, error: "boom" },
      ]);
      await pipeline.close();
    }
  });

  it("a router whose models() throws gives one result that says so", async () => {
    const backend: ModelBackend = { ...scriptedBackend({ script: textChunks("hi") }), prewarm: async () => [] };
    const pipeline = createZoePipeline({
      backend,
      router: router(() => {
        throw new Error("no models");
      }),
    });
    expect(await pipeline.prewarm()).toEqual([{ model: "", ok: false, loadMs: 0, error: "the router's models() failed: no models" }]);
    await pipeline.close();
  });
});

describe("pipeline.prewarm() with values that cannot be shown, and odd results", () => {
  const unprintable = () => Object.create(null) as object;

  it("a backend rejecting with an object without a prototype still gives each model ok: false", async () => {
    const backend = {
      ...scriptedBackend({ script: textChunks("hi") }),
      prewarm: async () => {
        throw unprintable();
      },
    } as ModelBackend;
    const pipeline = createZoePipeline({ backend, router: router(() => ["a"]) });
    const [result] = await pipeline.prewarm();
    expect(result).toMatchObject({ model: "a", ok: false, loadMs: 0 });
    expect(result?.error).toContain("cannot be shown as text");
    await pipeline.close();
  });

  it("a backend whose prewarm resolves no list gives each model ok: false; the backend gets a copy of the list", async () => {
    let given: string[] | undefined;
    const models = ["a", "b"];
    const backend = {
      ...scriptedBackend({ script: textChunks("hi") }),
      prewarm: async (list: string[]) => {
        given = list;
        list.length = 0;
        return undefined;
      },
    } as unknown as ModelBackend;
    const pipeline = createZoePipeline({ backend, router: router(() => models) });
    const results = await pipeline.prewarm();
    expect(results.map((r) => [r.model, r.ok])).toEqual([
      ["a", false],
      ["b", false],
    ]);
    expect(given).not.toBe(models);
    expect(models).toEqual(["a", "b"]);
    await pipeline.close();
  });
});

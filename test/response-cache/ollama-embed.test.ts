import { describe, expect, it, vi } from "vitest";
import { setup } from "../ollama/helpers.js";

describe("ollamaBackend embed()", () => {
  it("exists only with embedModel", async () => {
    const { backend } = await setup();
    expect(backend.embed).toBeUndefined();
  });

  it("posts { model, input } to /api/embed and returns the embeddings in order", async () => {
    const { server, backend } = await setup(
      { models: { "nomic-embed-text": {} }, embed: (input) => [input.length, 1] },
      { embedModel: "nomic-embed-text", keepAlive: "1h" },
    );
    const vectors = await backend.embed!(["a", "bbb"], { signal: new AbortController().signal });
    // Ollama L2-normalises every vector (`server/routes.go` `EmbedHandler`, `normalize`)
    const expected = [
      [Math.SQRT1_2, Math.SQRT1_2],
      [3 / Math.sqrt(10), 1 / Math.sqrt(10)],
    ];
    expect(vectors).toHaveLength(2);
    vectors.forEach((v, i) => v.forEach((x, j) => expect(x).toBeCloseTo(expected[i]![j]!, 12)));
    const request = server.requests.find((r) => r.path === "/api/embed")!;
    expect(request.body).toMatchObject({ model: "nomic-embed-text", input: ["a", "bbb"], keep_alive: "1h" });
  });

  it("aborting the signal closes the request and rejects with the signal's reason", async () => {
    const { server, backend } = await setup({ models: { e: {} }, embedDelayMs: 5_000 }, { embedModel: "e" });
    const controller = new AbortController();
    const pending = backend.embed!(["x"], { signal: controller.signal });
    await vi.waitFor(() => expect(server.requests.some((r) => r.path === "/api/embed")).toBe(true));
    const reason = new DOMException("stop", "AbortError");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    const request = server.requests.find((r) => r.path === "/api/embed")!;
    await request.closed;
    expect(request.closedByClient).toBe(true);
  });

  it("prewarm() also loads the embedding model with an empty /api/embed", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": {}, e: {} } }, { embedModel: "e" });
    const results = await backend.prewarm(["llama3.2"]);
    expect(results.map((r) => [r.model, r.ok])).toEqual([
      ["llama3.2", true],
      ["e", true],
    ]);
    expect(server.requests.find((r) => r.path === "/api/embed")?.body).toMatchObject({ model: "e", input: [] });
    expect(server.loadCounts.e).toBe(1);
  });

  it("a missing embedding model is MODEL_NOT_FOUND", async () => {
    const { backend } = await setup({ models: {} }, { embedModel: "nope" });
    await expect(backend.embed!(["x"], { signal: new AbortController().signal })).rejects.toMatchObject({ code: "MODEL_NOT_FOUND" });
  });
});

import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/shared/abort.js";

// `delay` is Node's timers/promises setTimeout; callers (the retry backoff, the scripted backend,
// test tools) rely on it rejecting with the signal's reason itself, not Node's AbortError.
describe("delay", () => {
  it("resolves, and leaves no listener on the signal", async () => {
    const controller = new AbortController();
    await expect(delay(1, controller.signal)).resolves.toBeUndefined();
    await expect(delay(1)).resolves.toBeUndefined();
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("rejects with the signal's reason itself when it aborts while waiting", async () => {
    const controller = new AbortController();
    const reason = { why: "stop" };
    const waiting = delay(60_000, controller.signal);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("rejects at once with the reason of a signal already aborted", async () => {
    const reason = new DOMException("gone", "AbortError");
    await expect(delay(60_000, AbortSignal.abort(reason))).rejects.toBe(reason);
    const controller = new AbortController();
    controller.abort();
    await expect(delay(60_000, controller.signal)).rejects.toBe(controller.signal.reason);
  });
});

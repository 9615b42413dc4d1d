import { delay } from "../../src/shared/abort.js";
import type { ContextProvider, RouteDecision, RouteKind, Router } from "../../src/index.js";

/** A router that always answers `kind` (fast path for greeting and simple). */
export function fixedRouter(kind: RouteKind = "chat", model = "test-model"): Router & { calls: number } {
  const router = {
    calls: 0,
    route(): RouteDecision {
      router.calls++;
      const fastPath = kind === "greeting" || kind === "simple";
      return { model, kind, fastPath, reason: `fixed: ${kind}`, options: fastPath ? { num_predict: 64 } : {} };
    },
    models: () => [model],
  };
  return router;
}

/** Wait `ms`, or reject when `signal` aborts. */
export const sleep = delay;

/** A provider that answers `value` after `delayMs`, counting calls and aborts. */
export function testProvider(
  name: string,
  value: unknown,
  options: Partial<ContextProvider> & { delayMs?: number; fail?: boolean } = {},
): ContextProvider & { calls: number; aborts: number } {
  const { delayMs = 0, fail = false, ...rest } = options;
  const provider = {
    name,
    calls: 0,
    aborts: 0,
    ...rest,
    async fetch(_req: unknown, { signal }: { signal: AbortSignal }) {
      provider.calls++;
      signal.addEventListener("abort", () => provider.aborts++, { once: true });
      if (delayMs) await sleep(delayMs, signal);
      if (fail) throw new Error(`${name} failed on purpose`);
      return value;
    },
  };
  return provider;
}

/** An AG-UI input with one user message that declares the frontend tool `offer_choices`. */
export function offerChoicesInput(text: string, userId = "u") {
  return {
    threadId: "t",
    runId: "r",
    userId,
    messages: [{ id: "m1", role: "user" as const, content: text }],
    tools: [{ name: "offer_choices", description: "Offer options", parameters: { type: "object" } }],
    context: [],
  };
}

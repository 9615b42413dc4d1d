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
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

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

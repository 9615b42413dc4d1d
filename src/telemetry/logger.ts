import type { EventEmitter } from "eventemitter3";
import type { PipelineEvents } from "../pipeline/types.js";

/** What the pipeline needs of a logger: pino's shape (`logger.info({ ...fields }, "message")`). */
export interface ZoeLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Something that emits the resilient store's `degraded` / `recovered` events. */
interface StoreEvents {
  on(event: "degraded" | "recovered", listener: (info: Record<string, unknown>) => void): unknown;
}

/** Call a logger method without letting a throwing logger reach a run. */
function safe(logger: ZoeLogger, level: keyof ZoeLogger, fields: object, message: string): void {
  try {
    logger[level](fields, message);
  } catch {
    // A broken logger loses a line, never a run.
  }
}

/**
 * Log a pipeline's host events: one `info` line per finished or cancelled run, `warn` for what a
 * fallback absorbed, `error` for a failed run. Fields are ids, codes and timings, never the
 * user's text from the pipeline itself; an error's message (`err`, `error`, `reason`) is logged as
 * the failing part (a router, a provider, a backend) wrote it, and may quote what it was given.
 */
export function attachLogger(logger: ZoeLogger, emitter: EventEmitter<PipelineEvents>, store: unknown): void {
  emitter.on("run:finished", ({ metrics, ...ids }) =>
    safe(
      logger,
      "info",
      {
        ...ids,
        outcome: "success",
        kind: metrics.kind,
        model: metrics.model,
        fastPath: metrics.fastPath,
        ttftMs: metrics.ttftMs,
        totalMs: metrics.totalMs,
        stages: metrics.stages,
        tokens: metrics.tokens,
        cache: { hits: metrics.cache.hits, misses: metrics.cache.misses },
      },
      "zoe run finished",
    ),
  );
  emitter.on("run:cancelled", (ids) => safe(logger, "info", { ...ids, outcome: "cancelled" }, "zoe run cancelled"));
  emitter.on("run:error", ({ error, ...ids }) =>
    safe(logger, "error", { ...ids, outcome: "error", code: error.code, err: error.message }, "zoe run failed"),
  );
  emitter.on("provider:timeout", (info) => safe(logger, "warn", { ...info }, "zoe context provider timed out"));
  emitter.on("provider:error", (info) => safe(logger, "warn", { ...info }, "zoe context provider failed"));
  emitter.on("route:fallback", (info) => safe(logger, "warn", { ...info }, "zoe router fallback"));
  emitter.on("systemPrompt:fallback", (info) => safe(logger, "warn", { ...info }, "zoe system prompt fallback"));
  emitter.on("cache:error", (info) => safe(logger, "warn", { ...info }, "zoe cache read failed: everything was a miss"));
  emitter.on("history:write", (info) => {
    if (info.status !== "ok" && info.status !== "cleared") safe(logger, "warn", { ...info }, "zoe history write failed");
  });
  const events = store as Partial<StoreEvents> | undefined;
  if (typeof events?.on === "function") {
    events.on("degraded", (info) =>
      safe(logger, "warn", { store: "cache", ...plain(info) }, "zoe cache store degraded: running on memory"),
    );
    events.on("recovered", (info) => safe(logger, "info", { store: "cache", ...plain(info) }, "zoe cache store recovered"));
  }
}

/** An event payload as log fields (errors as their message). */
function plain(info: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(info ?? {})) out[key] = value instanceof Error ? value.message : value;
  return out;
}

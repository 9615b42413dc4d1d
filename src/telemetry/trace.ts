import { createRequire } from "node:module";
import type { Attributes, Context, Span, SpanOptions, Tracer } from "@opentelemetry/api";

/** Tracing of a pipeline: a tracer of your own, or off. Default: `@opentelemetry/api`'s global tracer when that package is installed. */
export type TelemetryOption = false | { tracer?: Tracer };

/** A span of a run, or nothing when tracing is off. */
export interface SpanHandle {
  set(attributes: Attributes): void;
  /** Mark it failed with a stable code (`error.type`). */
  fail(code: string, message: string): void;
  end(): void;
}

/** How a span relates to the work it stands for: `client` for a call to another process (a model server). Default `internal`. */
export type SpanKindName = "client" | "internal";

/** What a span of work that stopped because its run was cancelled says: not a failure (no error status, no `error.type`). */
export const CANCELLED: Attributes = Object.freeze({ "zoe.outcome": "cancelled" });

/** The spans of one run: the run's own, stages under it, and spans recorded once their times are known. */
export interface RunTrace {
  readonly enabled: boolean;
  /** A live span under `parent` (default the run's span). */
  start(name: string, attributes?: Attributes, parent?: SpanHandle, kind?: SpanKindName): SpanHandle;
  /** A finished span, from `performance.now()` times, under `parent` (default the run's span). */
  record(name: string, startedAt: number, endedAt: number, attributes: Attributes, parent?: SpanHandle, failure?: string): void;
  /**
   * Call `fn` with `span` as the active span (`context.with(trace.setSpan(…, span), fn)`), so that
   * spans the work makes (a backend's HTTP client, a tool's or a provider's own calls) are its
   * children. Without tracing (or for a no-op span) it only calls `fn`.
   */
  within<T>(span: SpanHandle, fn: () => T): T;
  /** The run's own span. */
  readonly root: SpanHandle;
}

const NOOP_SPAN: SpanHandle = { set() {}, fail() {}, end() {} };

/** The trace of a run when tracing is off: every call does nothing and allocates nothing. */
export const NO_TRACE: RunTrace = {
  enabled: false,
  start: () => NOOP_SPAN,
  record() {},
  within: <T>(_span: SpanHandle, fn: () => T): T => fn(),
  root: NOOP_SPAN,
};

type OtelApi = typeof import("@opentelemetry/api");

/** `@opentelemetry/api`, when installed next to zoe-pipeline (an optional peer); nothing is loaded otherwise. */
function loadApi(): OtelApi | undefined {
  try {
    const base = typeof __filename === "string" ? __filename : import.meta.url;
    return createRequire(base)("@opentelemetry/api") as OtelApi;
  } catch {
    return undefined;
  }
}

/**
 * A call into the host's tracer. A tracer or span that throws loses that span (or attribute), never
 * the run: telemetry is the host's code, and a run must end with its own terminal event.
 */
function quietly<T>(call: () => T, fallback: T): T {
  try {
    return call();
  } catch {
    return fallback;
  }
}

/** End a span whatever else it threw: in a guarded call of its own. */
function endQuietly(span: Span | undefined, endTime?: number): void {
  if (span === undefined) return;
  try {
    span.end(endTime);
  } catch {
    // The host's span is broken: it is lost, the run goes on.
  }
}

class LiveSpan implements SpanHandle {
  constructor(
    readonly span: Span,
    readonly context: Context,
    private readonly api: OtelApi,
  ) {}
  set(attributes: Attributes): void {
    quietly(() => this.span.setAttributes(attributes), undefined);
  }
  fail(code: string, message: string): void {
    // Each call guarded on its own: a span whose setAttribute throws still gets its status.
    quietly(() => this.span.setAttribute("error.type", code), undefined);
    quietly(() => this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message }), undefined);
  }
  end(): void {
    endQuietly(this.span);
  }
}

/** Creates each run's trace for a pipeline. */
export interface Tracing {
  run(name: string, attributes: Attributes): RunTrace;
}

/** Tracing for a pipeline's `telemetry` option. */
export function createTracing(option: TelemetryOption | undefined): Tracing {
  if (option === false) return { run: () => NO_TRACE };
  const api = loadApi();
  if (!api) {
    if (option?.tracer)
      throw new TypeError("createZoePipeline: `telemetry.tracer` needs @opentelemetry/api installed next to zoe-pipeline.");
    return { run: () => NO_TRACE };
  }
  const tracer = option?.tracer ?? api.trace.getTracer("zoe-pipeline");
  const { trace, context: contexts, SpanKind, SpanStatusCode } = api;
  return {
    run(name, attributes) {
      let span: Span | undefined;
      let root: LiveSpan;
      try {
        // The host's context is read once: a context manager may throw on any call (see `within`).
        const parent = contexts.active();
        span = tracer.startSpan(name, { attributes, kind: SpanKind.INTERNAL }, parent);
        // A tracer with no provider registered gives non-recording spans: the run skips all work.
        if (!span.isRecording()) {
          endQuietly(span);
          return NO_TRACE;
        }
        root = new LiveSpan(span, trace.setSpan(parent, span), api);
      } catch {
        // A tracer or context manager that throws: what was started ends, this run goes untraced.
        endQuietly(span);
        return NO_TRACE;
      }
      const under = (parent: SpanHandle | undefined) => (parent instanceof LiveSpan ? parent : root).context;
      return {
        enabled: true,
        root,
        start(childName, childAttributes, parent, kind) {
          let child: Span | undefined;
          try {
            const options: SpanOptions = { kind: kind === "client" ? SpanKind.CLIENT : SpanKind.INTERNAL };
            if (childAttributes) options.attributes = childAttributes;
            const parentContext = under(parent);
            child = tracer.startSpan(childName, options, parentContext);
            return new LiveSpan(child, trace.setSpan(parentContext, child), api);
          } catch {
            endQuietly(child);
            return NOOP_SPAN;
          }
        },
        record(childName, startedAt, endedAt, childAttributes, parent, failure) {
          // The times are passed as `performance.now()` readings, not converted to epoch: the SDK's
          // Span takes a number not above `performance.now()` as one and adds its own offset between
          // the wall clock and the monotonic one, read when the span is created
          // (@opentelemetry/sdk-trace-base, Span's constructor: `_performanceOffset`, and `_getTime`:
          // "must be a performance timestamp, apply correction"). Live spans get the same
          // correction, so a recorded span stays inside its parent after the wall clock is stepped
          // (NTP, a resumed VM), which an epoch computed here from `performance.timeOrigin` would not.
          let child: Span | undefined;
          try {
            child = tracer.startSpan(childName, { attributes: childAttributes, startTime: startedAt }, under(parent));
          } catch {
            return;
          }
          if (failure) {
            const failed = child;
            quietly(() => failed.setAttribute("error.type", failure), undefined);
            quietly(() => failed.setStatus({ code: SpanStatusCode.ERROR, message: failure }), undefined);
          }
          endQuietly(child, endedAt);
        },
        within<T>(span: SpanHandle, fn: () => T): T {
          if (!(span instanceof LiveSpan)) return fn();
          // A context manager that throws before calling `fn` runs it without the span, one that
          // throws after it returned gives its result; what `fn` itself throws is passed on, and
          // `fn` is never called twice.
          let state = "before" as "before" | "running" | "returned";
          let result: T | undefined;
          try {
            return contexts.with(span.context, () => {
              state = "running";
              result = fn();
              state = "returned";
              return result;
            });
          } catch (error) {
            if (state === "running") throw error;
            return state === "returned" ? (result as T) : fn();
          }
        },
      };
    },
  };
}

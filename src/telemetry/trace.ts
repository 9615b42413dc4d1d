import { createRequire } from "node:module";
import type { Attributes, Context, Span, Tracer } from "@opentelemetry/api";

/** Tracing of a pipeline: a tracer of your own, or off. Default: `@opentelemetry/api`'s global tracer when that package is installed. */
export type TelemetryOption = false | { tracer?: Tracer };

/** A span of a run, or nothing when tracing is off. */
export interface SpanHandle {
  set(attributes: Attributes): void;
  /** Mark it failed with a stable code. */
  fail(code: string, message: string): void;
  end(): void;
}

/** The spans of one run: the run's own, stages under it, and spans recorded once their times are known. */
export interface RunTrace {
  readonly enabled: boolean;
  /** A live span under `parent` (default the run's span). */
  start(name: string, attributes?: Attributes, parent?: SpanHandle): SpanHandle;
  /** A finished span, from `performance.now()` times, under `parent` (default the run's span). */
  record(name: string, startedAt: number, endedAt: number, attributes: Attributes, parent?: SpanHandle, failure?: string): void;
  /** The run's own span. */
  readonly root: SpanHandle;
}

const NOOP_SPAN: SpanHandle = { set() {}, fail() {}, end() {} };

/** The trace of a run when tracing is off: every call does nothing and allocates nothing. */
export const NO_TRACE: RunTrace = {
  enabled: false,
  start: () => NOOP_SPAN,
  record() {},
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

/** Epoch milliseconds of a `performance.now()` time, as OpenTelemetry takes them. */
const epoch = (perfNow: number) => performance.timeOrigin + perfNow;

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
    quietly(() => {
      this.span.setAttribute("error.type", code);
      this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message });
    }, undefined);
  }
  end(): void {
    quietly(() => this.span.end(), undefined);
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
  const { trace, context: contexts } = api;
  return {
    run(name, attributes) {
      let span: Span;
      try {
        span = tracer.startSpan(name, { attributes, kind: api.SpanKind.INTERNAL }, contexts.active());
        // A tracer with no provider registered gives non-recording spans: the run skips all work.
        if (!span.isRecording()) {
          span.end();
          return NO_TRACE;
        }
      } catch {
        // A tracer that throws: this run goes untraced.
        return NO_TRACE;
      }
      const root = new LiveSpan(span, trace.setSpan(contexts.active(), span), api);
      const under = (parent: SpanHandle | undefined) => (parent instanceof LiveSpan ? parent : root).context;
      return {
        enabled: true,
        root,
        start(childName, childAttributes, parent) {
          return quietly<SpanHandle>(() => {
            const child = tracer.startSpan(childName, childAttributes ? { attributes: childAttributes } : {}, under(parent));
            return new LiveSpan(child, trace.setSpan(under(parent), child), api);
          }, NOOP_SPAN);
        },
        record(childName, startedAt, endedAt, childAttributes, parent, failure) {
          quietly(() => {
            const child = tracer.startSpan(childName, { attributes: childAttributes, startTime: epoch(startedAt) }, under(parent));
            if (failure) {
              child.setAttribute("error.type", failure);
              child.setStatus({ code: api.SpanStatusCode.ERROR, message: failure });
            }
            child.end(epoch(endedAt));
          }, undefined);
        },
      };
    },
  };
}

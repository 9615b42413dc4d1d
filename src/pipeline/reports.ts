import type { ZoeError } from "../errors/zoe-error.js";
import type { MetricsAggregator } from "../metrics/aggregator.js";
import type { HostEvents } from "./host-events.js";
import type { CachePart, HitMiss, RunMetrics } from "./metrics.js";

/** The ids a run reports with. */
export type RunIds = { threadId: string; runId: string; userId: string };

/** A run in progress, as the pipeline tracks it (`close()` aborts it and reports it cancelled). */
export interface ActiveRun {
  controller: AbortController;
  who: RunIds;
  /**
   * Reported so far: `new`, then `started` (`run:started`), then `ended` once (by the run, or by
   * `close()` while the run still unwinds).
   */
  reported: "new" | "started" | "ended";
  /** Its cache reads, by part: they reach `pipeline.metrics()` when it ends. */
  readonly byPart: Record<CachePart, HitMiss>;
}

/** A new run's tracking record (not yet started). */
export function activeRun(controller: AbortController, who: RunIds): ActiveRun {
  return {
    controller,
    who,
    reported: "new",
    // In the order a warm run first reads them, as `metrics().cache` lists its parts.
    byPart: {
      route: { hits: 0, misses: 0 },
      context: { hits: 0, misses: 0 },
      system: { hits: 0, misses: 0 },
      history: { hits: 0, misses: 0 },
    },
  };
}

/**
 * What runs tell the pipeline's metrics (`pipeline.metrics()`) and the host (`pipeline.on`): a
 * start, then exactly one end (finished, cancelled or failed), and input refused before a start.
 * The aggregates are fed directly, then the host event is emitted: a host listener that throws
 * loses its event, never a count.
 */
export class RunReports {
  /** Undefined once detached: the aggregates stop, as the host events do. */
  private aggregator: MetricsAggregator | undefined;

  constructor(
    private readonly emitter: HostEvents,
    aggregator: MetricsAggregator,
  ) {
    this.aggregator = aggregator;
  }

  /** The pipeline is closed and its host listeners removed: `metrics()` stops counting too. */
  detach(): void {
    this.aggregator = undefined;
  }

  /** Input refused before the run started (`run:error` with the ids known, if any). */
  refused(ids: Partial<RunIds> | undefined, error: ZoeError): void {
    this.aggregator?.runError(error.code, false);
    this.emitter.emit("run:error", ids ? Object.assign({}, ids, { error }) : { error });
  }

  started(run: ActiveRun): void {
    run.reported = "started";
    this.aggregator?.runStarted();
    this.emitter.emit("run:started", run.who);
  }

  finished(run: ActiveRun, metrics: RunMetrics): void {
    if (!this.end(run)) return;
    this.aggregator?.runFinished(metrics);
    const { threadId, runId, userId } = run.who;
    this.emitter.emit("run:finished", { threadId, runId, userId, metrics });
  }

  cancelled(run: ActiveRun): void {
    if (!this.end(run)) return;
    this.aggregator?.runCancelled();
    this.emitter.emit("run:cancelled", run.who);
  }

  failed(run: ActiveRun, error: ZoeError): void {
    if (!this.end(run)) return;
    this.aggregator?.runError(error.code, true);
    const { threadId, runId, userId } = run.who;
    this.emitter.emit("run:error", { threadId, runId, userId, error });
  }

  /**
   * A cache read (already counted in the run's `byPart`), for hosts that listen (`cache:hit`,
   * `cache:miss`). A read after the run's end was reported (`close()` reports it at once, the run
   * unwinds after) goes to the aggregates now: the end took the counts made until then.
   */
  cacheRead(run: ActiveRun, part: CachePart, hit: boolean): void {
    if (run.reported === "ended") this.aggregator?.cacheReads(part, hit ? 1 : 0, hit ? 0 : 1);
    const event = hit ? "cache:hit" : "cache:miss";
    if (this.emitter.listenerCount(event) > 0) this.emitter.emit(event, { part });
  }

  /** Whether the run's end is still to report (and, if so, it is now: its cache reads are counted). */
  private end(run: ActiveRun): boolean {
    if (run.reported !== "started") return false;
    run.reported = "ended";
    this.aggregator?.cacheReadsOf(run.byPart);
    return true;
  }
}

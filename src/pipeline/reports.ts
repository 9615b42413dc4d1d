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
  /** True from `run:started` until the run's end is reported: a run ends exactly once. */
  hostOpen: boolean;
  /** Its end has been reported (by the run, or by `close()` while the run still unwinds). */
  ended: boolean;
  /** Its cache reads, by part: they reach `pipeline.metrics()` when it ends. */
  readonly byPart: Record<CachePart, HitMiss>;
}

/** A new run's tracking record (not yet started). */
export function activeRun(controller: AbortController, who: RunIds): ActiveRun {
  return {
    controller,
    who,
    hostOpen: false,
    ended: false,
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
  /** Set by {@link RunReports.detach}: the aggregates stop, as the host events do. */
  private detached = false;

  constructor(
    private readonly emitter: HostEvents,
    private readonly aggregator: MetricsAggregator,
  ) {}

  /** The pipeline is closed and its host listeners removed: `metrics()` stops counting too. */
  detach(): void {
    this.detached = true;
  }

  /** Input refused before the run started (`run:error` with the ids known, if any). */
  refused(ids: Partial<RunIds> | undefined, error: ZoeError): void {
    if (!this.detached) this.aggregator.runError(error.code, false);
    this.emitter.emit("run:error", ids ? Object.assign({}, ids, { error }) : { error });
  }

  started(run: ActiveRun): void {
    run.hostOpen = true;
    if (!this.detached) this.aggregator.runStarted();
    this.emitter.emit("run:started", run.who);
  }

  finished(run: ActiveRun, metrics: RunMetrics): void {
    if (!this.end(run)) return;
    if (!this.detached) this.aggregator.runFinished(metrics);
    const { threadId, runId, userId } = run.who;
    this.emitter.emit("run:finished", { threadId, runId, userId, metrics });
  }

  cancelled(run: ActiveRun): void {
    if (!this.end(run)) return;
    if (!this.detached) this.aggregator.runCancelled();
    this.emitter.emit("run:cancelled", run.who);
  }

  failed(run: ActiveRun, error: ZoeError): void {
    if (!this.end(run)) return;
    if (!this.detached) this.aggregator.runError(error.code, true);
    const { threadId, runId, userId } = run.who;
    this.emitter.emit("run:error", { threadId, runId, userId, error });
  }

  /**
   * A cache read (already counted in the run's `byPart`), for hosts that listen (`cache:hit`,
   * `cache:miss`). A read after the run's end was reported (`close()` reports it at once, the run
   * unwinds after) goes to the aggregates now: the end took the counts made until then.
   */
  cacheRead(run: ActiveRun, part: CachePart, hit: boolean): void {
    if (run.ended && !this.detached) this.aggregator.cacheReads(part, hit ? 1 : 0, hit ? 0 : 1);
    const event = hit ? "cache:hit" : "cache:miss";
    if (this.emitter.listenerCount(event) > 0) this.emitter.emit(event, { part });
  }

  /** Whether the run's end is still to report (and, if so, it is now: its cache reads are counted). */
  private end(run: ActiveRun): boolean {
    if (!run.hostOpen) return false;
    run.hostOpen = false;
    run.ended = true;
    if (!this.detached) this.aggregator.cacheReadsOf(run.byPart);
    return true;
  }
}

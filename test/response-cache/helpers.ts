import { EventType, type AGUIEvent, type RunMetrics } from "../../src/index.js";
import { terminal } from "../helpers/ag-ui.js";

export const stateDeltas = (events: AGUIEvent[]) =>
  events.flatMap((e) => (e.type === EventType.STATE_DELTA ? e.delta : [])) as Array<{ op: string; path: string; value: unknown }>;

/** The `/zoe/answerCache` state the run reported. */
export const answerState = (events: AGUIEvent[]) =>
  stateDeltas(events).find((op) => op.path === "/zoe/answerCache")?.value as
    | { hit: boolean; kind?: string; similarity?: number }
    | undefined;

export const metricsOf = (events: AGUIEvent[]): RunMetrics => {
  const last = terminal(events);
  if (last.type !== EventType.RUN_FINISHED) throw new Error(`expected RUN_FINISHED, got ${JSON.stringify(last)}`);
  return (last.result as { metrics: RunMetrics }).metrics;
};

export const cacheMetrics = (events: AGUIEvent[]) => {
  const m = metricsOf(events).answerCache;
  if (!m) throw new Error("no metrics.answerCache");
  return m;
};

/** A unit vector whose cosine with `[1, 0, 0, …]` is `cos`. */
export const at = (cos: number, dims = 8): number[] => {
  const v = new Array<number>(dims).fill(0);
  v[0] = cos;
  v[1] = Math.sqrt(1 - cos * cos);
  return v;
};

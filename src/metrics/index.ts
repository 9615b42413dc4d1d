export {
  MetricsAggregator,
  STAGES,
  type CachePartStats,
  type PipelineMetricsSnapshot,
  type StageName,
} from "./aggregator.js";
export { SampleWindow, nearestRank, type LatencySummary } from "./sample-window.js";
export {
  AutoTuner,
  AUTO_TUNE_DEFAULTS,
  type AutoTuneNumPredictOptions,
  type AutoTuneOptions,
  type AutoTuneProviderOptions,
  type AutoTuneSnapshot,
  type RunTuning,
} from "./auto-tune.js";

import type { ModelBackend, PrewarmResult } from "../models/types.js";
import type { Router } from "../routing/types.js";

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * `pipeline.prewarm()`: load every model the router can pick through the backend. Never rejects,
 * so that a host can call it at start-up and go on: a backend whose `prewarm` fails gives each
 * model `ok: false` with the failure's message; a router whose `models()` throws gives one result
 * with `model: ""` that says so.
 */
export async function prewarmModels(router: Router, backend: ModelBackend): Promise<PrewarmResult[]> {
  let models: string[];
  try {
    models = router.models?.() ?? [];
  } catch (error) {
    return [{ model: "", ok: false, loadMs: 0, error: `the router's models() failed: ${messageOf(error)}` }];
  }
  if (!backend.prewarm || !Array.isArray(models) || models.length === 0) return [];
  try {
    return await backend.prewarm(models);
  } catch (error) {
    const message = messageOf(error);
    return models.map((model) => ({ model, ok: false, loadMs: 0, error: message }));
  }
}

import { errorMessage } from "../errors/error-message.js";
import type { ModelBackend, PrewarmResult } from "../models/types.js";
import type { Router } from "../routing/types.js";

/** Each model failed for one reason. */
const allFailed = (models: readonly string[], error: string): PrewarmResult[] =>
  models.map((model) => ({ model, ok: false, loadMs: 0, error }));

/**
 * `pipeline.prewarm()`: load every model the router can pick through the backend. Never rejects,
 * so that a host can call it at start-up and go on: a backend whose `prewarm` fails, or gives no
 * list of results, gives each model `ok: false` with the failure's message; a router whose
 * `models()` throws gives one result with `model: ""` that says so.
 */
export async function prewarmModels(router: Router, backend: ModelBackend): Promise<PrewarmResult[]> {
  let models: string[];
  try {
    const listed = router.models?.() ?? [];
    models = Array.isArray(listed) ? listed.filter((m): m is string => typeof m === "string") : [];
  } catch (error) {
    return [{ model: "", ok: false, loadMs: 0, error: `the router's models() failed: ${errorMessage(error)}` }];
  }
  if (models.length === 0) return [];
  try {
    const prewarm = backend.prewarm;
    if (typeof prewarm !== "function") return [];
    // The backend gets a copy: one that empties it and then fails still fails every model.
    const results: unknown = await prewarm.call(backend, [...models]);
    return Array.isArray(results) ? (results as PrewarmResult[]) : allFailed(models, "the backend's prewarm gave no list of results");
  } catch (error) {
    return allFailed(models, errorMessage(error));
  }
}

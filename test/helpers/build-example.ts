import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

/** The browser examples that Vite builds. */
export type BrowserExample = "web" | "copilotkit";

/**
 * Build a browser example with Vite's `build()` API, as `npm run build:web` does, into
 * examples/<name>/dist; returns that directory. A production build even under vitest
 * (NODE_ENV=test would give React's development build).
 */
export async function buildExample(name: BrowserExample): Promise<string> {
  const root = fileURLToPath(new URL(`../../examples/${name}/`, import.meta.url));
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = "production";
  try {
    await build({ configFile: join(root, "vite.config.ts"), mode: "production", logLevel: "error" });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return join(root, "dist");
}

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";

/**
 * A screenshot of the viewport, in test-artifacts/ on every run; with UPDATE_SCREENSHOTS=1 also
 * in docs/screenshots/ (the committed pictures the README shows), so that a plain test run never
 * changes tracked files.
 */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  const dirs = ["test-artifacts/screenshots", ...(process.env.UPDATE_SCREENSHOTS === "1" ? ["docs/screenshots"] : [])];
  for (const dir of dirs) {
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, `${name}.png`), animations: "disabled", caret: "hide" });
  }
}

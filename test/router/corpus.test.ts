import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { classifyTurn } from "../../src/routing/classify-turn.js";
import { ROUTE_KINDS, type RouteKind } from "../../src/routing/types.js";

interface CorpusEntry {
  text: string;
  kind: RouteKind;
  note?: string;
}

interface Miss {
  text: string;
  expected: RouteKind;
  got: RouteKind;
  reason: string;
  note?: string;
}

interface Report {
  total: number;
  correct: number;
  accuracy: number;
  /** confusion[expected][got] = count */
  confusion: Record<RouteKind, Record<RouteKind, number>>;
  misses: Miss[];
}

const corpusPath = fileURLToPath(new URL("./corpus.json", import.meta.url));
const holdoutPath = fileURLToPath(new URL("./holdout.json", import.meta.url));

function load(path: string): CorpusEntry[] {
  const data: unknown = JSON.parse(readFileSync(path, "utf8"));
  if (!Array.isArray(data)) throw new Error(`${path}: expected an array`);
  return data.map((entry: unknown, i: number) => {
    const e = entry as Partial<CorpusEntry>;
    if (typeof e.text !== "string" || !ROUTE_KINDS.includes(e.kind as RouteKind)) {
      throw new Error(`${path}[${i}]: expected { text: string, kind: RouteKind }`);
    }
    return e as CorpusEntry;
  });
}

function evaluate(entries: readonly CorpusEntry[]): Report {
  const confusion = Object.fromEntries(
    ROUTE_KINDS.map((k) => [k, Object.fromEntries(ROUTE_KINDS.map((g) => [g, 0]))]),
  ) as Record<RouteKind, Record<RouteKind, number>>;
  const misses: Miss[] = [];
  let correct = 0;
  for (const entry of entries) {
    const { kind, reason } = classifyTurn(entry.text);
    confusion[entry.kind][kind] += 1;
    if (kind === entry.kind) correct += 1;
    else {
      const miss: Miss = { text: entry.text, expected: entry.kind, got: kind, reason };
      if (entry.note !== undefined) miss.note = entry.note;
      misses.push(miss);
    }
  }
  return { total: entries.length, correct, accuracy: entries.length ? correct / entries.length : 0, confusion, misses };
}

function print(name: string, report: Report): void {
  const pad = (s: string | number, n = 9): string => String(s).padStart(n);
  const lines = [
    `[router] ${name}: ${report.correct}/${report.total} = ${(report.accuracy * 100).toFixed(1)}%`,
    `  confusion (rows: expected, columns: got)`,
    `  ${"".padStart(9)}${ROUTE_KINDS.map((k) => pad(k)).join("")}`,
    ...ROUTE_KINDS.map((k) => `  ${pad(k)}${ROUTE_KINDS.map((g) => pad(report.confusion[k][g])).join("")}`),
  ];
  for (const m of report.misses) {
    lines.push(`  MISS expected ${m.expected}, got ${m.got} (${m.reason}): ${JSON.stringify(m.text)}`);
  }
  console.log(lines.join("\n"));
}

/** Waits for a file that another process may still be writing (polls every 30 s). */
async function waitForFile(path: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(path)) {
      try {
        JSON.parse(readFileSync(path, "utf8"));
        return true;
      } catch {
        // still being written
      }
    }
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(30_000, Math.max(0, deadline - Date.now()))));
  }
}

const WAIT_MS = 15 * 60_000;

describe("classifyTurn corpus", () => {
  it(
    "classifies the labelled corpus with accuracy >= 0.95",
    async () => {
      const ready = await waitForFile(corpusPath, WAIT_MS);
      expect(ready, `${corpusPath} did not appear`).toBe(true);
      const report = evaluate(load(corpusPath));
      print("corpus.json", report);
      expect(report.total).toBeGreaterThan(0);
      expect(report.accuracy).toBeGreaterThanOrEqual(0.95);
    },
    WAIT_MS + 60_000,
  );

  it.skipIf(!existsSync(holdoutPath))("reports holdout accuracy (no threshold)", () => {
    const report = evaluate(load(holdoutPath));
    print("holdout.json", report);
    expect(report.total).toBeGreaterThanOrEqual(0);
  });
});

/** Percentile (nearest rank) of a sample, in its own unit. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** p50, p95, p99, mean of a sample (in ms), rounded to µs, or to `digits` decimals of a ms. */
export function summarise(samples: readonly number[], digits = 3) {
  const sorted = [...samples].sort((a, b) => a - b);
  const scale = 10 ** digits;
  const r = (x: number) => Math.round(x * scale) / scale;
  return {
    n: sorted.length,
    p50: r(percentile(sorted, 50)),
    p95: r(percentile(sorted, 95)),
    p99: r(percentile(sorted, 99)),
    mean: r(sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1)),
  };
}

/** Print rows as an aligned text table. */
export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return;
  const headers = Object.keys(rows[0]!);
  const cells = rows.map((row) => headers.map((h) => String(row[h] ?? "")));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ");
  console.log(`\n${title}`);
  console.log(line(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const c of cells) console.log(line(c));
}

/**
 * What the benchmarks measure: the package's built JavaScript (bench/dist/, the same as dist/),
 * as users run it. Run through the root tsconfig, `zoe-pipeline` resolves to src/ and tsx's
 * transform adds a `__name()` call to every function it creates, which slows zoe's warm run by a
 * quarter; say so before any figure.
 */
export const MEASURED = import.meta.resolve("zoe-pipeline");
if (!MEASURED.endsWith("/bench/dist/index.js")) {
  console.warn(
    `Warning: measuring ${MEASURED}, not the package's JavaScript built into bench/dist/. ` +
      "Use `npm run bench`, or `npm run build:bench` then `npx tsx --tsconfig bench/tsconfig.run.json <file>`.",
  );
}

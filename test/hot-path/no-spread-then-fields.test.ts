/**
 * On Node 20, an object literal with a spread followed by more fields (`{ ...a, b, c }`) takes a
 * slow path in V8: about 0.7 µs per field after the spread (bench: a 9-field turn cost 7.6 µs
 * that way, 0.09 µs written out). The code every warm run goes through builds its objects with
 * the spreads last, field by field, or with Object.assign. This keeps it that way.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const HOT = ["src/pipeline", "src/events", "src/input", "src/context", "src/cache/memory-store.ts", "src/cache/keys.ts", "src/history"];

const files = (path: string): string[] =>
  statSync(path).isDirectory() ? readdirSync(path).flatMap((f) => files(join(path, f))) : path.endsWith(".ts") ? [path] : [];

/** Object literals in `source` with a field after a spread, as `file:line`. */
function spreadsThenFields(file: string, source: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isObjectLiteralExpression(node)) {
      let spread = false;
      for (const p of node.properties) {
        if (ts.isSpreadAssignment(p)) spread = true;
        else if (spread) {
          found.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`);
          break;
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

describe("the warm run's code", () => {
  it("finds a field after a spread (the check works)", () => {
    expect(spreadsThenFields("x.ts", "const a = { ...b, c: 1 }; const d = { c: 1, ...b };")).toEqual(["x.ts:1"]);
  });

  it("builds no object with a field after a spread", () => {
    // Cold paths (errors, tool follow-ups) may: how many each file has, and why.
    const allowed: Record<string, number> = {
      "src/pipeline/stages/answer.ts": 2, // tool follow-up requests and messages (not on a warm run)
      "src/pipeline/create-pipeline.ts": 1, // the metrics() snapshot, called by the host
      "src/pipeline/stages/prompt.ts": 1, // fitTrailing: a continued run over its budget (not a warm run)
      "src/input/parse-input.ts": 1, // the schema's explanation of a refused shorthand
    };
    const found = HOT.flatMap(files).flatMap((f) => spreadsThenFields(f, readFileSync(f, "utf8")));
    const counts: Record<string, number> = {};
    for (const at of found) counts[at.split(":")[0]!] = (counts[at.split(":")[0]!] ?? 0) + 1;
    expect(counts).toEqual(allowed);
  });
});

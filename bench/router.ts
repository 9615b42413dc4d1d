import { readFileSync } from "node:fs";
import { classifyTurn, type RouteKind } from "zoe-pipeline";

type Entry = { text: string; kind: RouteKind };
const load = (name: string) => JSON.parse(readFileSync(new URL(`../test/router/${name}`, import.meta.url), "utf8")) as Entry[];

/** Router accuracy on the labelled corpus and on the holdout it was not tuned on, and its cost per turn. */
export function benchRouter() {
  const accuracy = (entries: Entry[]) => {
    const right = entries.filter((e) => classifyTurn(e.text).kind === e.kind).length;
    return { right, total: entries.length, accuracy: Math.round((right / entries.length) * 1000) / 1000 };
  };
  const corpus = load("corpus.json");
  const all = [...corpus, ...load("holdout.json")];
  for (let i = 0; i < 2_000; i++) classifyTurn(all[i % all.length]!.text); // warm up
  const rounds = 200;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (const e of all) classifyTurn(e.text);
  const microsPerTurn = Math.round(((performance.now() - t0) * 1000) / (rounds * all.length) * 100) / 100;
  return { corpus: accuracy(corpus), holdout: accuracy(load("holdout.json")), microsPerTurn };
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { requestKey, stableJson } from "../../src/backends/dedupe.js";

/** The hand-written stableJson this package had before: the reference on JSON values. */
function previousStableJson(value: unknown): string {
  if (value === undefined) return "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(previousStableJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${previousStableJson(v)}`).join(",")}}`;
}

/** The same keys, inserted in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .reverse()
      .map(([k, v]) => [k, reverseKeys(v)]),
  );
}

describe("stableJson (the dedupe sharing key)", () => {
  it("gives the same text as before on any JSON value (keys sorted, integer-like ones too), whatever the key order", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const text = stableJson(value);
        expect(text).toBe(previousStableJson(value));
        expect(stableJson(reverseKeys(value))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });

  it("reads undefined as JSON does: null alone or in an array, left out as a property", () => {
    expect(stableJson(undefined)).toBe("null");
    expect(stableJson([undefined, 1])).toBe("[null,1]");
    expect(stableJson({ b: undefined, a: 1 })).toBe('{"a":1}');
    expect(stableJson({ a: 1, f: () => 1 })).toBe('{"a":1}');
    expect(stableJson([() => 1])).toBe("[null]");
    expect(stableJson(Number.NaN)).toBe("null");
  });

  it("uses toJSON, so different dates are different keys", () => {
    const a = stableJson({ at: new Date(0) });
    expect(a).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
    expect(stableJson({ at: new Date(1) })).not.toBe(a);
  });

  it("throws a TypeError on a cycle, as sending the request would", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => stableJson(cyclic)).toThrow(TypeError);
  });

  it("gives one request key whatever the key order, and different keys for different requests", () => {
    const key = requestKey({ model: "m", messages: [{ role: "user", content: "hi" }], options: { temperature: 1, top_p: 0.5 } });
    expect(requestKey({ options: { top_p: 0.5, temperature: 1 }, messages: [{ content: "hi", role: "user" }], model: "m" })).toBe(key);
    expect(requestKey({ model: "m", messages: [{ role: "user", content: "hi" }], options: { temperature: 1, top_p: 0.6 } })).not.toBe(key);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
  });
});

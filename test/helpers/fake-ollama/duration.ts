/**
 * `keep_alive` as Ollama reads it, modelled on (not copied from) `api/types.go`
 * `Duration.UnmarshalJSON` and Go's `time.ParseDuration` grammar:
 *
 * - a JSON number is seconds (fractions allowed), a negative one is "forever" (`math.MaxInt64` ns);
 * - a JSON string is a Go duration: an optional sign, then one or more `<number><unit>` parts with
 *   units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`; `"0"` alone needs no unit; nothing is
 *   trimmed, so `" 30m"` is invalid; a negative duration is "forever";
 * - `null` leaves the pointer nil (the field counts as omitted);
 * - any other JSON type fails with `Unsupported type: '<go type>'`.
 *
 * A failure here fails the request body binding, so `ChatHandler` / `EmbedHandler` answer 400 with
 * the error text before anything is loaded.
 */

/** Go's `math.MaxInt64` nanoseconds, as ms: what "forever" is stored as. */
export const FOREVER_MS = 9_223_372_036_854.775;

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's `%q`-like quoting, close enough for the ASCII texts tests use. */
const quote = (s: string) => JSON.stringify(s);

/** Parse a Go duration string; nanoseconds, or the error text Go's `time.ParseDuration` gives. */
export function parseGoDuration(input: string): { ns: number } | { error: string } {
  const invalid = { error: `time: invalid duration ${quote(input)}` };
  let s = input;
  let negative = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    negative = s.startsWith("-");
    s = s.slice(1);
  }
  if (s === "0") return { ns: 0 };
  if (s === "") return invalid;
  let total = 0;
  while (s !== "") {
    const number = /^(\d*)(?:\.(\d*))?/.exec(s);
    const whole = number?.[1] ?? "";
    const fraction = number?.[2];
    if (whole === "" && (fraction === undefined || fraction === "")) return invalid;
    s = s.slice(number![0].length);
    const unit = /^[^\d.]*/.exec(s)![0];
    if (unit === "") return { error: `time: missing unit in duration ${quote(input)}` };
    const scale = UNIT_NS[unit];
    if (scale === undefined) return { error: `time: unknown unit ${quote(unit)} in duration ${quote(input)}` };
    s = s.slice(unit.length);
    total += Number(`${whole || "0"}.${fraction ?? ""}0`) * scale;
    if (total > 9.223372036854775e18) return invalid;
  }
  return { ns: negative ? -total : total };
}

/** The outcome of reading a request's `keep_alive`. */
export type KeepAlive = { kind: "omitted" } | { kind: "set"; ms: number } | { kind: "invalid"; error: string };

/** Read `keep_alive` from a parsed JSON body (`undefined` when the key is absent). */
export function readKeepAlive(value: unknown): KeepAlive {
  if (value === undefined || value === null) return { kind: "omitted" };
  if (typeof value === "number") {
    if (value < 0) return { kind: "set", ms: FOREVER_MS };
    // time.Duration(t * float64(time.Second)) truncates toward zero, in ns
    return { kind: "set", ms: Math.trunc(value * 1e9) / 1e6 };
  }
  if (typeof value === "string") {
    const parsed = parseGoDuration(value);
    if ("error" in parsed) return { kind: "invalid", error: parsed.error };
    return { kind: "set", ms: parsed.ns < 0 ? FOREVER_MS : Math.trunc(parsed.ns) / 1e6 };
  }
  const goType = typeof value === "boolean" ? "bool" : Array.isArray(value) ? "[]interface {}" : "map[string]interface {}";
  return { kind: "invalid", error: `Unsupported type: '${goType}'` };
}

/** `keep_alive` as ms for a test's own use: throws on an invalid value, `undefined` when omitted. */
export function parseKeepAlive(value: string | number): number {
  const read = readKeepAlive(value);
  if (read.kind === "invalid") throw new Error(read.error);
  return read.kind === "set" ? read.ms : 300_000;
}

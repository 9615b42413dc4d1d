import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import { QuickJSExecutor } from "../../src/quickjs/executor.js";
import { quickjsExecutor } from "../../src/quickjs/index.js";
import type { QuickJSCodeResult } from "../../src/quickjs/results.js";
import type { CodeContext, CodeExecutor, CodeResult } from "../../src/tools/types.js";

const executors: CodeExecutor[] = [];
function executor(options: Parameters<typeof quickjsExecutor>[0] = {}): CodeExecutor {
  const created = quickjsExecutor(options);
  executors.push(created);
  return created;
}
afterAll(async () => {
  await Promise.all(executors.map((e) => e.close?.()));
});

const never = new AbortController().signal;
const shared = executor();
/** Default memory limit, a generous time limit: a slow machine must not turn a memory error into a timeout. */
const roomy = executor({ timeoutMs: 20_000 });
const run = (code: string, on: CodeExecutor = shared, signal: AbortSignal = never): Promise<CodeResult> =>
  on.execute(code, { signal, language: "javascript" });

/** The next execution after hostile code is healthy. */
async function expectHealthy(on: CodeExecutor = shared): Promise<void> {
  expect(await run("console.log('still fine'); [1, 2].map((x) => x * 2)", on)).toEqual({
    ok: true,
    output: "still fine\n[2,4]",
  });
}

describe("quickjsExecutor: normal code", () => {
  it("declares its languages", () => {
    expect(shared.languages).toEqual(["javascript", "js"]);
  });

  it("collects console output, one line per call, and appends the final value", async () => {
    const result = await run(`
      console.log("hello", 1, true, null, undefined);
      console.info({ a: [1, "two", { b: 3n }] });
      console.warn("warned");
      console.error(new TypeError("shown, not thrown"));
      6 * 7;
    `);
    expect(result).toEqual({
      ok: true,
      output: 'hello 1 true null undefined\n{"a":[1,"two",{"b":3n}]}\nwarned\nTypeError: shown, not thrown\n42',
    });
  });

  it("renders values JSON-ish: quoted final strings, cycles, maps, sets, dates, functions", async () => {
    expect(await run("'text'")).toEqual({ ok: true, output: '"text"' });
    const result = await run(`
      const o = { n: -0, f: function named() {}, d: new Date(0), m: new Map([["k", 1]]), s: new Set([1]), u8: new Uint8Array([1, 2]) };
      o.self = o;
      o;
    `);
    expect(result).toEqual({
      ok: true,
      output:
        '{"n":-0,"f":[Function: named],"d":"1970-01-01T00:00:00.000Z","m":Map(1) {"k" => 1},"s":Set(1) {1},"u8":Uint8Array(2) [1,2],"self":[Circular]}',
    });
  });

  it("appends nothing when the final value is undefined", async () => {
    expect(await run("let x = 1; console.log(x + 1);")).toEqual({ ok: true, output: "2" });
    expect(await run("")).toEqual({ ok: true, output: "" });
  });

  it("awaits a final promise and runs promise callbacks", async () => {
    expect(await run("Promise.resolve(1).then((x) => console.log('then', x)); (async () => { await null; return 5; })()")).toEqual({
      ok: true,
      output: "then 1\n5",
    });
    expect(await run("new Promise(() => {})")).toMatchObject({
      ok: false,
      code: "CODE_ERROR",
      error: expect.stringMatching(/never settles/),
    });
    expect(await run("Promise.reject(new RangeError('no'))")).toMatchObject({
      ok: false,
      code: "CODE_ERROR",
      error: expect.stringMatching(/^RangeError: no/),
    });
  });

  it("starts every execution from a fresh context", async () => {
    expect(
      await run("globalThis.leak = 1; var alsoLeak = 2; Array.prototype.push = null; Object.prototype.polluted = true;"),
    ).toMatchObject({ ok: true });
    expect(await run("[typeof leak, typeof alsoLeak, typeof [].push, ({}).polluted]")).toEqual({
      ok: true,
      output: '["undefined","undefined","function",undefined]',
    });
  });

  it("runs one user's executions one at a time, each with its own output", async () => {
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => run(`console.log(${n}); ${n} * 10`)));
    expect(results).toEqual([1, 2, 3, 4, 5].map((n) => ({ ok: true, output: `${n}\n${n * 10}` })));
  });

  it("refuses other languages", async () => {
    expect(await shared.execute("print(1)", { signal: never, language: "python" })).toEqual({
      ok: false,
      output: "",
      error: 'the QuickJS executor does not run "python"',
      code: "UNSUPPORTED_LANGUAGE",
    });
  });
});

describe("quickjsExecutor: errors in the code", () => {
  it("reports a syntax error with its location", async () => {
    const result = await run("console.log('never'); let x = ;");
    expect(result.ok).toBe(false);
    expect(result.output).toBe("");
    expect((result as QuickJSCodeResult).code).toBe("CODE_ERROR");
    expect(result.error).toMatch(/^SyntaxError: unexpected token in expression: ';'\n {4}at code\.js:1:/);
  });

  it("reports a thrown error with its name, message and stack, keeping earlier output", async () => {
    const result = await run("console.log('before');\nfunction f() { null.x; }\nf();");
    expect(result).toMatchObject({ ok: false, output: "before", code: "CODE_ERROR" });
    expect(result.error).toMatch(/^TypeError: cannot read property 'x' of null\n {4}at f \(code\.js:2:/);
  });

  it("reports thrown non-errors", async () => {
    expect(await run("throw { code: 7 }")).toEqual({ ok: false, output: "", error: 'Uncaught {"code":7}', code: "CODE_ERROR" });
    expect(await run("throw 'plain'")).toEqual({ ok: false, output: "", error: 'Uncaught "plain"', code: "CODE_ERROR" });
  });

  it("reports runaway recursion and nesting as stack overflows", async () => {
    const recursion = await run("function f() { return f() + 1; } f()");
    expect(recursion).toMatchObject({ ok: false, code: "CODE_ERROR" });
    expect(recursion.error).toMatch(/^InternalError: stack overflow\n {4}at f \(code\.js:1:\d+\) \(\d+ times\)/);
    const nesting = await run("eval('('.repeat(100000) + ')'.repeat(100000))", roomy);
    expect(nesting).toMatchObject({ code: "CODE_ERROR", error: expect.stringMatching(/stack overflow/) });
    await expectHealthy(roomy);
  });
});

describe("quickjsExecutor: hostile code is contained", () => {
  it("stops an infinite loop at the time limit, even one that catches", async () => {
    expect(await run("while (true) {}")).toEqual({ ok: false, output: "", error: "time limit of 1000 ms exceeded", code: "TIMEOUT" });
    const fast = executor({ timeoutMs: 100 });
    expect(await run("console.log('start'); for (;;) { try { while (true) {} } catch {} }", fast)).toEqual({
      ok: false,
      output: "start",
      error: "time limit of 100 ms exceeded",
      code: "TIMEOUT",
    });
    expect(await run("(async () => { for (;;) await null; })()", fast)).toMatchObject({
      error: "time limit of 100 ms exceeded",
      code: "TIMEOUT",
    });
    await expectHealthy();
    await expectHealthy(fast);
  });

  it("stops native code that never checks for interrupts by terminating the worker", async () => {
    const fast = executor({ timeoutMs: 100 });
    for (const code of ["Array(2 ** 32 - 1).join('')", "Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1)"]) {
      expect(await run(`console.log('printed first'); ${code}`, fast)).toEqual({
        ok: false,
        output: "printed first",
        error: "time limit of 100 ms exceeded",
        code: "TIMEOUT",
      });
      await expectHealthy(fast);
    }
  });

  it("keeps the host's event loop running while the code runs", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const fast = executor({ timeoutMs: 300 });
    await run("1", fast); // started
    const result = await run("while (true) {}", fast);
    clearInterval(timer);
    expect(result.error).toBe("time limit of 300 ms exceeded");
    expect(ticks).toBeGreaterThan(5);
  });

  it.each([
    ["growing arrays of strings", "const a = []; while (true) a.push('x'.repeat(10000) + a.length);"],
    ["growing arrays of objects", "const a = []; while (true) a.push({ i: a.length, s: String(a.length) });"],
    ["doubling strings", "let s = 'ab'; const keep = []; while (true) { s = s + s.slice(0, 1e6) + keep.length; keep.push(s); }"],
    ["typed arrays", "const a = []; while (true) a.push(new Uint8Array(1e6));"],
    ["one huge array", "new Array(1e9).fill(0)"],
    ["a map", "const m = new Map(); for (let i = 0; ; i++) m.set(i, { i });"],
  ])("stops a memory bomb: %s", async (_name, code) => {
    const rssBefore = process.memoryUsage().rss;
    const result = await run(code, roomy);
    expect(result).toEqual({ ok: false, output: "", error: "memory limit of 33554432 bytes exceeded", code: "MEMORY_LIMIT" });
    // The sandbox's memory is capped (32 MiB here); the host did not grow by anything like the bomb.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
    await expectHealthy(roomy);
  });

  it.each([
    ["a then-callback", "let a = []; Promise.resolve().then(() => { for (;;) a.push('x'.repeat(1e5)); }); 'finished'"],
    ["an async function", "(async () => { let a = []; for (;;) { a.push('x'.repeat(1e5)); await 0; } })(); 'finished'"],
  ])("stops a memory bomb in a promise job (%s), whose error QuickJS drops, as MEMORY_LIMIT", async (_name, code) => {
    const result = await run(code, roomy);
    expect(result).toMatchObject({ ok: false, code: "MEMORY_LIMIT", error: "memory limit of 33554432 bytes exceeded (in a promise job)" });
    await expectHealthy(roomy);
  });

  it("reports a caught out-of-memory as the code decides, and stays healthy", async () => {
    const result = await run("let a = []; try { for (;;) a.push('y'.repeat(1e5) + a.length); } catch (e) { a = null; String(e) }", roomy);
    expect(result).toEqual({ ok: true, output: '"InternalError: out of memory"' });
    await expectHealthy(roomy);
  });

  it("has no host objects: no process, require, fetch, timers, file system", async () => {
    const result = await run(`[
      typeof process, typeof require, typeof module, typeof exports, typeof fetch, typeof XMLHttpRequest,
      typeof setTimeout, typeof setInterval, typeof queueMicrotask, typeof Buffer, typeof std, typeof os,
      typeof Deno, typeof Bun, typeof WebAssembly, typeof Atomics, typeof global, typeof self, typeof window,
    ].every((t) => t === "undefined")`);
    expect(result).toEqual({ ok: true, output: "true" });
    expect(await run("process.exit(1)")).toEqual({
      ok: false,
      output: "",
      error: expect.stringMatching(/^ReferenceError: 'process' is not defined/),
      code: "CODE_ERROR",
    });
    expect(await run("require('fs')")).toMatchObject({ error: expect.stringMatching(/^ReferenceError: 'require' is not defined/) });
    expect(await run("fetch('http://127.0.0.1/')")).toMatchObject({
      error: expect.stringMatching(/^ReferenceError: 'fetch' is not defined/),
    });
  });

  it("has only ECMAScript built-ins and the console on its global object", async () => {
    const result = await run("Object.getOwnPropertyNames(globalThis)");
    const names = JSON.parse(result.output) as string[];
    const standard = new Set([
      ...["Object", "Function", "Array", "Number", "Boolean", "String", "Symbol", "BigInt", "Math", "JSON", "Reflect"],
      ...["Date", "RegExp", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Proxy", "Promise"],
      ...["Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError", "InternalError"],
      ...["AggregateError", "Iterator", "ArrayBuffer", "SharedArrayBuffer", "DataView", "Uint8ClampedArray", "Int8Array"],
      ...["Uint8Array", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array"],
      ...["Float16Array", "Float32Array", "Float64Array", "parseInt", "parseFloat", "isNaN", "isFinite", "decodeURI"],
      ...["decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "unescape", "Infinity", "NaN", "undefined"],
      ...["eval", "globalThis", "console"],
    ]);
    expect(names.filter((name) => !standard.has(name))).toEqual([]);
    expect(names).toContain("console");
  });

  it("cannot load modules: import() rejects, import declarations do not parse", async () => {
    for (const name of ["fs", "node:child_process", "data:text/javascript,export default 1", "./code.js"]) {
      const result = await run(`import(${JSON.stringify(name)})`);
      expect(result.ok, name).toBe(false);
      expect((result as QuickJSCodeResult).code, name).toBe("CODE_ERROR");
      expect(result.error, name).toMatch(/cannot import .*there are no modules in this sandbox/);
    }
    expect(await run("import fs from 'fs'; fs")).toMatchObject({ ok: false, error: expect.stringMatching(/^SyntaxError/) });
    expect(await run("export const x = 1;")).toMatchObject({ ok: false, error: expect.stringMatching(/^SyntaxError/) });
  });

  it("lets new Function and eval run, inside the same sandbox with no host access", async () => {
    const result = await run(`[
      new Function("return this")() === globalThis,
      new Function("return typeof process")(),
      (0, eval)("typeof require"),
      console.log.constructor("return this")() === globalThis,
      (() => {}).constructor.constructor("return typeof fetch")(),
      Object.keys(console).join(","),
    ]`);
    expect(result).toEqual({ ok: true, output: '[true,"undefined","undefined",true,"undefined","log,info,warn,error"]' });
    expect(await run("this.constructor.constructor('return process')().env")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^ReferenceError: 'process' is not defined/),
    });
  });

  it("stops a flood of output at the output limit", async () => {
    const flood = await run("for (;;) console.log('flood')");
    expect(flood.ok).toBe(false);
    expect(flood.error).toBe("output limit of 10000 characters reached");
    expect((flood as QuickJSCodeResult).code).toBe("OUTPUT_LIMIT");
    expect(flood.output).toHaveLength(10_000);
    expect(flood.output.startsWith("flood\nflood\n")).toBe(true);

    const small = executor({ maxOutputChars: 20 });
    expect(await run("console.log('x'.repeat(1e6)); console.log('never')", small)).toEqual({
      ok: false,
      output: "x".repeat(20),
      error: "output limit of 20 characters reached",
      code: "OUTPUT_LIMIT",
    });
    expect(await run("'y'.repeat(100)", small)).toEqual({
      ok: false,
      output: `"${"y".repeat(19)}`,
      error: "output limit of 20 characters reached",
      code: "OUTPUT_LIMIT",
    });
    // Rendering a huge sparse array stops at the limit instead of walking 2^32 holes.
    expect(await run("console.log(Array(2 ** 32 - 1))", small)).toMatchObject({
      ok: false,
      error: "output limit of 20 characters reached",
    });
    expect(await run("console.log('ok')", small)).toEqual({ ok: true, output: "ok" });
    await expectHealthy();
  });

  it("never cuts the output between the halves of a surrogate pair", async () => {
    const small = executor({ maxOutputChars: 10 });
    for (const code of ["console.log('a' + '😀'.repeat(20))", "'😀'.repeat(20)", "console.log('abcdefgh'); console.log('😀')"]) {
      const result = await run(code, small);
      expect(result).toMatchObject({ ok: false, code: "OUTPUT_LIMIT" });
      expect(result.output).not.toMatch(/[\uD800-\uDBFF]$/);
      expect(result.output).toHaveLength(9);
    }
  });
});

describe("quickjsExecutor: cancellation and lifecycle", () => {
  it("does not run code when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    expect(await run("console.log('ran')", shared, controller.signal)).toEqual({
      ok: false,
      output: "",
      error: "execution aborted",
      code: "ABORTED",
    });
  });

  it("interrupts running code when the signal aborts", async () => {
    const slow = executor({ timeoutMs: 20_000 });
    await expectHealthy(slow);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect(await run("console.log('started'); while (true) {}", slow, controller.signal)).toEqual({
      ok: false,
      output: "started",
      error: "execution aborted",
      code: "ABORTED",
    });
    await expectHealthy(slow);
  });

  it("aborts native code stuck outside interrupt checks by terminating the worker", async () => {
    const slow = executor({ timeoutMs: 20_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect(await run("Array(2 ** 32 - 1).join('')", slow, controller.signal)).toEqual({
      ok: false,
      output: "",
      error: "execution aborted",
      code: "ABORTED",
    });
    await expectHealthy(slow);
  });

  it("aborts an execution still waiting for its turn", async () => {
    const fast = executor({ timeoutMs: 300 });
    const controller = new AbortController();
    const first = run("while (true) {}", fast);
    const second = run("console.log('second')", fast, controller.signal);
    controller.abort();
    expect(await second).toEqual({ ok: false, output: "", error: "execution aborted", code: "ABORTED" });
    expect((await first).error).toBe("time limit of 300 ms exceeded");
  });

  it("ends executions on close() and refuses new ones", async () => {
    const closing = executor();
    await expectHealthy(closing);
    const running = run("while (true) {}", closing);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await closing.close?.();
    expect(await running).toEqual({ ok: false, output: "", error: "the QuickJS executor is closed", code: "CLOSED" });
    expect(await run("1", closing)).toEqual({ ok: false, output: "", error: "the QuickJS executor is closed", code: "CLOSED" });
  });

  it("resolves, never rejects, when the context's signal is not an AbortSignal", async () => {
    for (const signal of [undefined, {}, { aborted: false }]) {
      const context = { signal, language: "js" } as unknown as CodeContext;
      await expect(shared.execute("1", context)).resolves.toMatchObject({ ok: false, code: "SANDBOX_ERROR" });
    }
    await expectHealthy();
  });

  it("returns a clear error when quickjs-emscripten is not installed", async () => {
    const missing = new QuickJSExecutor({}, { packageName: "quickjs-emscripten-is-not-here" });
    executors.push(missing);
    const result = await run("1", missing);
    expect(result).toEqual({
      ok: false,
      output: "",
      code: "SANDBOX_ERROR",
      error: expect.stringMatching(/^quickjs-emscripten-is-not-here is not installed, so JavaScript cannot run/),
    });
  });

  it("rejects invalid options at creation", () => {
    expect(() => quickjsExecutor({ timeoutMs: 0 })).toThrow(RangeError);
    expect(() => quickjsExecutor({ memoryLimitBytes: 1.5 })).toThrow(RangeError);
    expect(() => quickjsExecutor({ maxOutputChars: -1 })).toThrow(RangeError);
    expect(() => quickjsExecutor({ stackSizeBytes: Number.NaN })).toThrow(RangeError);
    expect(() => quickjsExecutor({ maxWorkers: 0 })).toThrow(/maxWorkers must be an integer from 1 to 256/);
    expect(() => quickjsExecutor({ perUserConcurrency: 0 })).toThrow(RangeError);
    expect(() => quickjsExecutor({ maxQueued: -1 })).toThrow(RangeError);
    expect(() => quickjsExecutor({ maxQueuedPerUser: 2.5 })).toThrow(RangeError);
    expect(() => quickjsExecutor({ queueTimeoutMs: 0 })).toThrow(RangeError);
    expect(() => quickjsExecutor({ sliceMs: -1 })).toThrow(RangeError);
    // 0 is allowed where it means "never wait" / "no slices".
    expect(() => quickjsExecutor({ maxQueued: 0, maxQueuedPerUser: 0, sliceMs: 0 })).not.toThrow();
  });
});

describe("quickjsExecutor: small limits", () => {
  it("refuses a memory or stack limit too small for the sandbox to set up, at creation", () => {
    expect(() => quickjsExecutor({ memoryLimitBytes: 1 })).toThrow(/memoryLimitBytes must be an integer from 1048576/);
    expect(() => quickjsExecutor({ memoryLimitBytes: 1024 * 1024 - 1 })).toThrow(RangeError);
    expect(() => quickjsExecutor({ stackSizeBytes: 1024 })).toThrow(/stackSizeBytes must be an integer from 16384/);
  });

  it("a final value whose getter never ends is a TIMEOUT that names the formatting budget, not the code's", async () => {
    const result = await run("({ get x() { for (;;); } })", roomy);
    expect(result).toMatchObject({ ok: false, code: "TIMEOUT" });
    expect(result.error).toMatch(/^time limit of 100 ms exceeded while formatting the final value/);
    await expectHealthy(roomy);
  });

  it("runs and formats code at the smallest limits", async () => {
    const small = executor({ memoryLimitBytes: 1024 * 1024, stackSizeBytes: 16 * 1024, timeoutMs: 20_000 });
    expect(await run("console.log({ a: { b: [{ c: new Map([[1, { d: [1] }]]) }] } }); 6 * 7", small)).toEqual({
      ok: true,
      output: '{"a":{"b":[{"c":Map(1) {1 => [Object]}}]}}\n42',
    });
    expect(await run("const a = []; for (;;) a.push(new Array(1e4).fill(1))", small)).toMatchObject({ code: "MEMORY_LIMIT" });
    await expectHealthy(small);
  });

  it("keeps its WebAssembly module from run to run with a memory limit of 16 MiB or less", async () => {
    for (const memoryLimitBytes of [8 * 1024 * 1024, 16 * 1024 * 1024]) {
      const capped = new QuickJSExecutor({ memoryLimitBytes, sliceMs: 0 });
      executors.push(capped);
      for (let i = 0; i < 3; i++) await expectHealthy(capped);
      // Caught out of memory: the code goes on, and so does the module.
      const caught = await run(
        "let a = []; try { for (;;) a.push('y'.repeat(1e4) + a.length); } catch (e) { a = null; String(e) }",
        capped,
      );
      expect(caught).toEqual({ ok: true, output: '"InternalError: out of memory"' });
      await expectHealthy(capped);
      expect(await capped.stats()).toMatchObject({ resets: 0, runs: 5 });
    }
  });
});

describe("quickjsExecutor: no leaks", () => {
  it("keeps the host's heap and the worker's memory flat over 200 executions", async () => {
    setFlagsFromString("--expose_gc");
    const gc = runInNewContext("gc") as () => void;
    const leaky = new QuickJSExecutor(); // started after --expose_gc, so its worker can collect too
    executors.push(leaky);
    const codes = [
      "console.log('x'.repeat(100)); ({ a: [1, 2, 3], s: new Set([1]) })",
      "throw new Error('boom')",
      "let x = ;",
      "(async () => { await null; return [1, 2]; })()",
      "const a = []; for (let i = 0; i < 1000; i++) a.push({ i }); a.length",
    ];
    const round = async (n: number) => {
      for (let i = 0; i < n; i++) await run(codes[i % codes.length] as string, leaky);
    };
    await round(50); // warm up: JIT, the WebAssembly memory's high-water mark
    gc();
    const hostBefore = process.memoryUsage().heapUsed;
    const workerBefore = await (leaky as QuickJSExecutor).stats();
    await round(200);
    gc();
    const hostAfter = process.memoryUsage().heapUsed;
    const workerAfter = await (leaky as QuickJSExecutor).stats();

    expect(workerBefore).toBeDefined();
    expect(workerAfter?.runs).toBe((workerBefore?.runs ?? 0) + 200);
    expect(workerAfter?.resets).toBe(0); // every handle disposed: the runtime was freed cleanly
    expect(workerAfter?.wasmBytes).toBe(workerBefore?.wasmBytes);
    expect((workerAfter?.heapUsed ?? 0) - (workerBefore?.heapUsed ?? 0)).toBeLessThan(4 * 1024 * 1024);
    expect(hostAfter - hostBefore).toBeLessThan(4 * 1024 * 1024);
  });
});

/**
 * The script that sets up every sandbox context before the user's code runs. It is evaluated
 * inside QuickJS (never on the host) and evaluates to a function `install(write, limit)` that
 *
 * - defines `globalThis.console` with `log`, `info`, `warn` and `error`, which format their
 *   arguments (JSON-ish) and pass one string per call to the host's `write`;
 * - returns `{ format, describe }`: `format(value)` renders the final value (strings quoted),
 *   `describe(exception)` renders a thrown value (`Name: message` and the stack).
 *
 * `write` is held in this closure only: the user's code cannot reach it, and it takes nothing but
 * a string. Every intrinsic the formatter uses is captured here, before the user's code runs, so
 * that patching prototypes changes nothing but that code's own output. Every rendered string is
 * cut at `limit + 1` characters (the host sees that the limit was passed), and the walk over a
 * value stops there too, so a huge or sparse array costs no more than the output cap.
 *
 * Plain ES5 on purpose: it is a string, nobody type-checks or transpiles it.
 */
export const PRELUDE_SOURCE = String.raw`(function (write, limit) {
  "use strict";
  var apply = Reflect.apply;
  var isArray = Array.isArray;
  var objectKeys = Object.keys;
  var objectIs = Object.is;
  var defineProperty = Object.defineProperty;
  var quote = JSON.stringify;
  var toStr = String;
  var isView = ArrayBuffer.isView;
  var ErrorCtor = Error, DateCtor = Date, RegExpCtor = RegExp, MapCtor = Map, SetCtor = Set;
  var PromiseCtor = Promise;
  var dateGetTime = Date.prototype.getTime;
  var dateToISOString = Date.prototype.toISOString;
  var regExpToString = RegExp.prototype.toString;
  var symbolToString = Symbol.prototype.toString;
  var mapForEach = Map.prototype.forEach;
  var setForEach = Set.prototype.forEach;
  var mapSize = Object.getOwnPropertyDescriptor(Map.prototype, "size").get;
  var setSize = Object.getOwnPropertyDescriptor(Set.prototype, "size").get;
  var stringSlice = String.prototype.slice;
  var stringSplit = String.prototype.split;
  var MAX_DEPTH = 5;
  var MAX_STACK_LINES = 10;

  function cap(s) {
    return s.length > limit + 1 ? apply(stringSlice, s, [0, limit + 1]) : s;
  }
  function get(object, key) {
    try { return object[key]; } catch (e) { return undefined; }
  }
  function functionLabel(f) {
    var name = get(f, "name");
    return typeof name === "string" && name !== "" ? "[Function: " + name + "]" : "[Function (anonymous)]";
  }
  function errorLabel(e) {
    var name = get(e, "name");
    var message = get(e, "message");
    var label = typeof name === "string" && name !== "" ? name : "Error";
    if (typeof message === "string" && message !== "") label += ": " + message;
    return label;
  }
  function seenBefore(seen, value) {
    for (var i = 0; i < seen.length; i++) if (seen[i] === value) return true;
    return false;
  }

  // st.n counts the characters produced so far; past the limit the walk stops.
  function render(v, top, depth, seen, st) {
    if (st.n > limit) return "";
    var t = typeof v;
    var s;
    if (t === "string") s = top ? v : quote(v);
    else if (t === "number") s = objectIs(v, -0) ? "-0" : toStr(v);
    else if (t === "bigint") s = toStr(v) + "n";
    else if (t === "boolean" || t === "undefined") s = toStr(v);
    else if (t === "symbol") s = apply(symbolToString, v, []);
    else if (t === "function") s = functionLabel(v);
    else if (v === null) s = "null";
    else return renderObject(v, top, depth, seen, st);
    st.n += s.length;
    return s;
  }

  function renderObject(v, top, depth, seen, st) {
    var s;
    if (v instanceof ErrorCtor) s = errorLabel(v);
    else if (v instanceof DateCtor) {
      var time = apply(dateGetTime, v, []);
      s = time !== time ? "Invalid Date" : apply(dateToISOString, v, []);
      if (!top && time === time) s = quote(s);
    } else if (v instanceof RegExpCtor) s = apply(regExpToString, v, []);
    else if (v instanceof PromiseCtor) s = "Promise {}";
    else if (seenBefore(seen, v)) s = "[Circular]";
    else if (depth >= MAX_DEPTH) s = isArray(v) ? "[Array]" : "[Object]";
    if (s !== undefined) {
      st.n += s.length;
      return s;
    }
    seen[seen.length] = v;
    try {
      if (v instanceof MapCtor) return renderMap(v, depth, seen, st);
      if (v instanceof SetCtor) return renderSet(v, depth, seen, st);
      if (isArray(v) || isView(v)) return renderList(v, depth, seen, st);
      var toJSON = get(v, "toJSON");
      if (typeof toJSON === "function") return render(apply(toJSON, v, []), false, depth + 1, seen, st);
      return renderPlain(v, depth, seen, st);
    } finally {
      seen.length = seen.length - 1;
    }
  }

  function renderList(v, depth, seen, st) {
    var prefix = "";
    if (!isArray(v)) {
      var ctor = get(v, "constructor");
      var name = ctor ? get(ctor, "name") : undefined;
      var length = get(v, "length");
      prefix = (typeof name === "string" ? name : "TypedArray") + "(" + toStr(length) + ") ";
    }
    var n = get(v, "length");
    if (typeof n !== "number") n = 0;
    var out = prefix + "[";
    st.n += out.length;
    for (var i = 0; i < n; i++) {
      if (st.n > limit) { out += ",…"; break; }
      if (i > 0) { out += ","; st.n += 1; }
      out += render(get(v, i), false, depth + 1, seen, st);
    }
    st.n += 1;
    return out + "]";
  }

  function renderPlain(v, depth, seen, st) {
    var keys = objectKeys(v);
    var out = "{";
    st.n += 1;
    for (var i = 0; i < keys.length; i++) {
      if (st.n > limit) { out += ",…"; break; }
      var key = quote(keys[i]);
      out += (i > 0 ? "," : "") + key + ":";
      st.n += key.length + 2;
      out += render(get(v, keys[i]), false, depth + 1, seen, st);
    }
    st.n += 1;
    return out + "}";
  }

  function renderMap(v, depth, seen, st) {
    var out = "Map(" + toStr(apply(mapSize, v, [])) + ") {";
    var first = true;
    st.n += out.length;
    apply(mapForEach, v, [function (value, key) {
      if (st.n > limit) return;
      out += (first ? "" : ", ") + render(key, false, depth + 1, seen, st) + " => " + render(value, false, depth + 1, seen, st);
      st.n += 6;
      first = false;
    }]);
    st.n += 1;
    return out + "}";
  }

  function renderSet(v, depth, seen, st) {
    var out = "Set(" + toStr(apply(setSize, v, [])) + ") {";
    var first = true;
    st.n += out.length;
    apply(setForEach, v, [function (value) {
      if (st.n > limit) return;
      out += (first ? "" : ", ") + render(value, false, depth + 1, seen, st);
      st.n += 2;
      first = false;
    }]);
    st.n += 1;
    return out + "}";
  }

  function line(args) {
    var st = { n: 0 };
    var out = "";
    for (var i = 0; i < args.length; i++) {
      if (out.length > limit) break;
      out += (i > 0 ? " " : "") + render(args[i], true, 0, [], st);
    }
    return cap(out);
  }

  function format(value) {
    return cap(render(value, false, 0, [], { n: 0 }));
  }

  function describe(e) {
    if (e !== null && typeof e === "object" && e instanceof ErrorCtor) {
      var text = errorLabel(e);
      var stack = get(e, "stack");
      if (typeof stack === "string" && stack !== "") {
        var lines = apply(stringSplit, stack, ["\n"]);
        var shown = 0;
        for (var i = 0; i < lines.length && shown < MAX_STACK_LINES; i++) {
          if (lines[i] === "") continue;
          var repeats = 0;
          while (i + 1 < lines.length && lines[i + 1] === lines[i]) { i++; repeats++; }
          text += "\n" + lines[i] + (repeats > 0 ? " (" + toStr(repeats + 1) + " times)" : "");
          shown++;
        }
      }
      return cap(text);
    }
    return cap("Uncaught " + render(e, false, 0, [], { n: 0 }));
  }

  function method() {
    return function () { write(line(arguments)); };
  }
  var console = {};
  var names = ["log", "info", "warn", "error"];
  for (var i = 0; i < names.length; i++) {
    defineProperty(console, names[i], { value: method(), writable: true, enumerable: true, configurable: true });
  }
  defineProperty(globalThis, "console", { value: console, writable: true, enumerable: false, configurable: true });
  return { format: format, describe: describe };
})`;

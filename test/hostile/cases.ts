/** Hand-written hostile requests: each is sent to the plain Node server and to the Express example. */
export interface HostileCase {
  name: string;
  method?: string;
  /** Extra or replacing headers; `content-type` defaults to application/json. */
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The status the answer must have, when the case is about one. */
  status?: number;
  /** The error code the answer must have, when the case is about one. */
  code?: string;
}

const msg = (content: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "m", role: "user", content }], tools: [], context: [], ...extra });
const nest = (depth: number, open = "[", close = "]", inner = "") => `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
const objects = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

const malformed: HostileCase[] = [
  "",
  " ",
  "{",
  "}",
  "[",
  "nul",
  '{"a":}',
  "{'single': 1}",
  '{"messages": [1,],}',
  "NaN",
  "Infinity",
  '{"threadId": "t" "runId": "r"}',
  '"unterminated',
  '{"a": "\\x41"}',
  '{"a": "\\u12"}',
  '{"a": "tab\there"}',
  "/* comment */ {}",
  '{"a": 1} trailing',
  '{"a": 1}{"b": 2}',
  "\u0000",
  `{"a":${"1".repeat(400)}}`,
  "--1",
  '{"__proto__": {"polluted": true}, "messages": []}',
  '{"constructor": {"prototype": {"x": 1}}, "message": "hi", "userId": "u"}',
].map((body, i) => ({ name: `malformed JSON #${i}: ${JSON.stringify(body.slice(0, 30))}`, body }));

const bytes: HostileCase[] = [
  [0xff, 0xfe, 0x7b, 0x7d],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe2, 0x28, 0xa1, 0x22, 0x7d],
  [0xef, 0xbb, 0xbf, ...Buffer.from(msg("with a BOM"))],
  [...Buffer.from(msg("utf-16"), "utf16le")],
].map((b, i) => ({ name: `raw bytes #${i}`, body: Uint8Array.from(b) }));

const types: HostileCase[] = [
  "null",
  "42",
  '"a string"',
  "[]",
  "true",
  '{"messages": "x", "threadId": "t", "runId": "r"}',
  '{"messages": [1], "threadId": "t", "runId": "r"}',
  '{"messages": [{"role": "user"}], "threadId": "t", "runId": "r"}',
  msg(123),
  msg(null),
  msg([{ type: "text", text: 5 }]),
  msg([{ type: "image", url: "javascript:alert(1)" }]),
  JSON.stringify({ threadId: 5, runId: "r", messages: [] }),
  JSON.stringify({ threadId: "t", runId: [], messages: [] }),
  msg("hi", { userId: { $ne: null } }),
  msg("hi", { tools: "x" }),
  msg("hi", { tools: [{}] }),
  msg("hi", { context: [{}] }),
  msg("hi", { context: "nope" }),
  msg("hi", { state: 5 }),
  msg("hi", { forwardedProps: "x" }),
  JSON.stringify({ userId: "u", message: 7 }),
  JSON.stringify({ userId: "u", message: "" }),
  JSON.stringify({ userId: "u", message: "   " }),
  JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "m", role: "system", content: "only a system message" }] }),
  JSON.stringify({
    threadId: "t",
    runId: "r",
    messages: [
      { id: "m", role: "tool", content: "x", toolCallId: "nope" },
      { id: "n", role: "user", content: "hi" },
    ],
  }),
  JSON.stringify({ threadId: "", runId: "", messages: [] }),
].map((body, i) => ({ name: `wrong types #${i}: ${body.slice(0, 40)}`, body }));

const unicode: HostileCase[] = [
  msg("lone high \ud800 surrogate"),
  msg("lone low \udc00 surrogate"),
  msg("reversed pair \udc00\ud800"),
  msg("hi", { threadId: "thread-\ud800" }),
  msg("hi", { runId: "\udfff" }),
  msg("hi", { userId: "\ud800" }),
  JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "\ud800", role: "user", content: "hi" }] }),
  JSON.stringify({ userId: "u\ud800", message: "shorthand with a bad user" }),
  msg(`${"x".repeat(79)}😀 an emoji across position 80`),
  msg("👩‍👩‍👧‍👦 family, 🏳️‍🌈, 🇵🇹"),
  msg("\u202eright-to-left override"),
  msg("nul \u0000 inside"),
  msg("\uffff\ufffe\ufeff non-characters"),
  msg(`e${"\u0301".repeat(5_000)}`),
  msg("hi", { threadId: "💬".repeat(100) }),
  msg("hi", { context: [{ description: "\ud800", value: "\udc00" }] }),
  msg("hi", { state: { "\ud800": "\udc00" } }),
  msg("hi", { tools: [{ name: "\ud800", description: "bad", parameters: {} }] }),
].map((body, i) => ({ name: `unicode #${i}`, body }));

const huge: HostileCase[] = [
  { name: "body over the limit (content-length)", body: msg("x".repeat(1_100_000)), status: 413, code: "BODY_TOO_LARGE" },
  { name: "a 100,000-character message", body: msg("y".repeat(100_000)) },
  {
    name: "10,000 messages",
    body: JSON.stringify({
      threadId: "t",
      runId: "r",
      messages: Array.from({ length: 10_000 }, (_, i) => ({ id: `m${i}`, role: i % 2 ? "assistant" : "user", content: "hi" })),
    }),
  },
  {
    name: "5,000 context items",
    body: msg("hi", { context: Array.from({ length: 5_000 }, (_, i) => ({ description: `c${i}`, value: "v" })) }),
  },
  { name: "a 200,000-character thread id", body: msg("hi", { threadId: "t".repeat(200_000) }) },
  { name: "a 200,000-character run id", body: msg("hi", { runId: "r".repeat(200_000) }) },
  { name: "a 150,000-character context item", body: msg("hi", { context: [{ description: "big", value: "z".repeat(150_000) }] }) },
  {
    name: "a state with 20,000 keys",
    body: msg("hi", { state: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])) }),
  },
  {
    name: "2,000 tools",
    body: msg("hi", {
      tools: Array.from({ length: 2_000 }, (_, i) => ({ name: `t${i}`, description: "d", parameters: { type: "object" } })),
    }),
  },
  { name: "a 1e308 number and -0", body: msg("hi", { state: { big: 1e308, neg: -0, tiny: 5e-324 } }) },
];

const deep: HostileCase[] = [
  {
    name: "state nested 4,100 arrays (8.4 KB)",
    body: msg("hi", { state: { a: "@" } }).replace('"@"', nest(4_100)),
    status: 400,
    code: "INPUT_TOO_DEEP",
  },
  {
    name: "state nested 20,000 objects",
    body: msg("hi", { state: "@" }).replace('"@"', objects(20_000)),
    status: 400,
    code: "INPUT_TOO_DEEP",
  },
  { name: "state nested 65 levels", body: msg("hi", { state: "@" }).replace('"@"', objects(65)), status: 400, code: "INPUT_TOO_DEEP" },
  { name: "state nested 55 levels (accepted)", body: msg("hi", { state: "@" }).replace('"@"', objects(55)), status: 200 },
  {
    name: "forwardedProps nested 300 levels",
    body: msg("hi", { forwardedProps: "@" }).replace('"@"', nest(300)),
    status: 400,
    code: "INPUT_TOO_DEEP",
  },
  {
    name: "tool parameters nested 1,000 levels",
    body: msg("hi", { tools: [{ name: "t", description: "d", parameters: "@" }] }).replace('"@"', objects(1_000)),
    status: 400,
    code: "INPUT_TOO_DEEP",
  },
  { name: "a top-level array nested 100,000 deep", body: nest(100_000), status: 400, code: "INPUT_TOO_DEEP" },
  {
    name: "content parts nested 500 deep",
    body: msg("@").replace('"@"', nest(500, "[", "]", '{"type":"text","text":"x"}')),
    status: 400,
    code: "INPUT_TOO_DEEP",
  },
];

const methods: HostileCase[] = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"].map((method) => ({
  name: `${method} is a JSON 405`,
  method,
  ...(method === "GET" || method === "OPTIONS" ? {} : { body: msg("hi") }),
  status: 405,
  code: "METHOD_NOT_ALLOWED",
}));

const contentTypes: HostileCase[] = [
  { type: undefined, status: 415 },
  { type: "text/plain", status: 415 },
  { type: "text/plain;charset=UTF-8", status: 415 },
  { type: "application/x-www-form-urlencoded", status: 415 },
  { type: "multipart/form-data; boundary=x", status: 415 },
  { type: "application/json; charset=latin1", status: 415 },
  { type: "application/jsonx", status: 415 },
  { type: "text/json", status: 415 },
  { type: "application/json, text/plain", status: 415 },
  { type: "application/json", status: 200 },
  { type: "application/json; charset=utf-8", status: 200 },
  { type: 'application/json;charset="UTF-8"', status: 200 },
  { type: "APPLICATION/JSON", status: 200 },
  { type: "application/ld+json", status: 200 },
  { type: "application/vnd.api+json", status: 200 },
].map(({ type, status }) => ({
  name: `content-type ${type ?? "(none)"} → ${status}`,
  headers: { "content-type": type ?? "" },
  body: msg("hello there"),
  status,
  ...(status === 415 ? { code: "UNSUPPORTED_MEDIA_TYPE" } : {}),
}));

const encodings: HostileCase[] = [
  {
    name: "content-encoding gzip is a 415",
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: msg("hi"),
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
  },
  {
    name: "a form post with a JSON-looking body is a 415",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `{"threadId":"t","runId":"r","messages":[]}=`,
    status: 415,
  },
  {
    name: "accept: protobuf gets protobuf or a JSON error",
    headers: { "content-type": "application/json", accept: "application/vnd.ag-ui.event+proto" },
    body: "{",
  },
  {
    name: "a weird accept header still gets SSE",
    headers: { "content-type": "application/json", accept: "*/*;q=0, x/y" },
    body: msg("hi"),
    status: 200,
  },
];

/** Cases for both servers. */
export const commonCases: HostileCase[] = [
  ...malformed,
  ...bytes,
  ...types,
  ...unicode,
  ...huge,
  ...deep,
  ...methods,
  ...contentTypes,
  ...encodings,
];

/** Cases for the Node server only: its `getUserId` reads `authorization: Bearer <token>`. */
export const identityCases: HostileCase[] = [
  { token: undefined, status: 401, code: "UNAUTHENTICATED" },
  { token: "none", status: 401, code: "UNAUTHENTICATED" },
  { token: "throw", status: 500, code: "GET_USER_ID_FAILED" },
  { token: "throw-401", status: 401, code: "UNAUTHENTICATED" },
  { token: "throw-string", status: 500, code: "GET_USER_ID_FAILED" },
  { token: "reject-later", status: 500, code: "GET_USER_ID_FAILED" },
  { token: "number", status: 500, code: "GET_USER_ID_FAILED" },
].flatMap(({ token, status, code }) =>
  [msg("hi"), "{", nest(5_000)].map((body, i) => ({
    name: `getUserId with token ${token ?? "(none)"}, body #${i} → ${status}`,
    headers: token
      ? { "content-type": "application/json", authorization: `Bearer ${token}` }
      : { "content-type": "application/json", authorization: "" },
    body,
    status,
    code,
  })),
);

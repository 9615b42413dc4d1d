import { defineConfig, type Options } from "tsup";

// p-limit ships ESM only; the CommonJS build bundles them so that
// `require("zoe-pipeline")` works on every Node 20, not only where require(esm) is on.
const esmOnly = ["p-limit", "yocto-queue"];
const entry = {
  index: "src/index.ts",
  testing: "src/testing/index.ts",
  ollama: "src/ollama/index.ts",
  "llama-cpp": "src/llama-cpp/index.ts",
  redis: "src/redis/index.ts",
  express: "src/express/index.ts",
  mcp: "src/mcp/index.ts",
  quickjs: "src/quickjs/index.ts",
  prometheus: "src/prometheus/index.ts",
  client: "src/client/index.ts",
  "openai-compatible": "src/openai-compatible/index.ts",
};
// tsup's declaration step sets `baseUrl`, which TypeScript 6 deprecates; the option still works.
const dts = { compilerOptions: { ignoreDeprecations: "6.0" } };

// Source maps: the package ships src/, so every `sources` entry of the ESM maps (all ../src/…)
// is a file the package contains. The CommonJS build has none: it bundles p-limit and
// yocto-queue, whose maps would point at ../node_modules/… files the package does not contain.
/** The ESM build, also what the benchmarks run (tsup.bench.config.ts). */
export const esm = { entry, format: ["esm"], sourcemap: true, clean: true, target: "node20", platform: "node" } satisfies Options;

export default defineConfig([
  { ...esm, dts },
  { entry, format: ["cjs"], dts, sourcemap: false, target: "node20", platform: "node", noExternal: esmOnly },
]);

import { defineConfig } from "tsup";

// p-limit and p-timeout ship ESM only; the CommonJS build bundles them so that
// `require("zoe-pipeline")` works on every Node 20, not only where require(esm) is on.
const esmOnly = ["p-limit", "p-timeout", "yocto-queue"];
const entry = { index: "src/index.ts", testing: "src/testing/index.ts" };

export default defineConfig([
  { entry, format: ["esm"], dts: true, sourcemap: true, clean: true, target: "node20", platform: "node" },
  { entry, format: ["cjs"], dts: true, sourcemap: true, target: "node20", platform: "node", noExternal: esmOnly },
]);

import { defineConfig } from "tsup";
import { esm } from "./tsup.config.js";

// What the benchmarks measure (`npm run build:bench`): the package's ESM build, the same
// JavaScript as dist/, in bench/dist/ without the declarations, which take most of a full build's
// time (about 1 s instead of about 25 on a 2-core machine). bench/tsconfig.run.json maps
// `zoe-pipeline` and its subpaths there.
export default defineConfig({ ...esm, outDir: "bench/dist" });

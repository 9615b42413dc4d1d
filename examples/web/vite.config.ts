/**
 * Builds the example chat page into examples/web/dist (served by examples/express-server.ts).
 * `npm run build:web` builds it; `npx vite examples/web` serves it with hot reload, sending
 * /api to the Express example on port 3000 (`npx tsx examples/express-server.ts`).
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("."),
  // Relative asset URLs: the page works wherever the host mounts it.
  base: "./",
  resolve: {
    // An application imports "zoe-pipeline/client" from the package; the example builds it from source.
    alias: { "zoe-pipeline/client": here("../../src/client/index.ts") },
  },
  build: { outDir: here("dist"), emptyOutDir: true, target: "es2022", reportCompressedSize: false },
  server: { proxy: { "/api": "http://127.0.0.1:3000" } },
  logLevel: "warn",
});

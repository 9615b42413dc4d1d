/**
 * CopilotKit's chat on a zoe endpoint: `npm run build:web` builds it into examples/copilotkit/dist;
 * `npx vite examples/copilotkit` serves it with hot reload, sending /api to the Express example on
 * port 3000 (`npx tsx examples/express-server.ts`).
 */
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "./",
  plugins: [react()],
  build: { outDir: here("dist"), emptyOutDir: true, target: "es2022", reportCompressedSize: false, chunkSizeWarningLimit: 4096 },
  server: { proxy: { "/api": "http://127.0.0.1:3000" } },
  logLevel: "warn",
});

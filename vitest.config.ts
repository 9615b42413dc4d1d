import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Examples import the package by name, exactly as users do; tests run them against src/.
    alias: [
      {
        find: /^zoe-pipeline\/(testing|ollama|llama-cpp|redis|express|mcp|quickjs|prometheus|openai-compatible|client)$/,
        replacement: src("$1/index.ts"),
      },
      { find: /^zoe-pipeline$/, replacement: src("index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});

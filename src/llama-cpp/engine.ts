import type { Llama } from "node-llama-cpp";
import { LlamaCppError } from "./errors.js";
import { errorMessage } from "../errors/error-message.js";

/** The `node-llama-cpp` module. Only its types are imported statically: the package is an optional peer. */
export type NodeLlamaCpp = typeof import("node-llama-cpp");

/** How the module is imported; tests replace it to simulate a missing package. */
export type ModuleImporter = () => Promise<NodeLlamaCpp>;

export const importNodeLlamaCpp: ModuleImporter = () => import("node-llama-cpp");

const isMissingModule = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND";
};

/** Import `node-llama-cpp`, or fail with `BACKEND_UNAVAILABLE` and what to do. */
export async function loadModule(importer: ModuleImporter): Promise<NodeLlamaCpp> {
  try {
    return await importer();
  } catch (error) {
    const message = isMissingModule(error)
      ? "The llama.cpp backend needs node-llama-cpp: install node-llama-cpp (npm install node-llama-cpp)."
      : `node-llama-cpp could not be imported: ${errorMessage(error)}`;
    throw new LlamaCppError("BACKEND_UNAVAILABLE", message, { cause: error });
  }
}

export type GpuOption = false | "auto" | "cuda" | "vulkan" | "metal";
export type LogLevel = "disabled" | "fatal" | "error" | "warn" | "info" | "log" | "debug";

/**
 * Start llama.cpp from a prebuilt binary, never building it from source (that takes minutes and
 * must not happen inside a request). `gpu: "auto"` falls back to the CPU binary when no GPU
 * binary works on this machine.
 */
export async function startLlama(mod: NodeLlamaCpp, settings: { gpu: GpuOption; threads: number; logLevel: LogLevel }): Promise<Llama> {
  const base = {
    build: "never" as const,
    maxThreads: settings.threads,
    logLevel: mod.LlamaLogLevel[settings.logLevel],
    progressLogs: false,
  };
  try {
    return await mod.getLlama({ ...base, gpu: settings.gpu });
  } catch (error) {
    if (settings.gpu === "auto") {
      try {
        return await mod.getLlama({ ...base, gpu: false });
      } catch {
        // Report the first failure below.
      }
    }
    throw new LlamaCppError(
      "BACKEND_UNAVAILABLE",
      `node-llama-cpp has no working prebuilt llama.cpp binary for this machine (gpu: ${JSON.stringify(settings.gpu)}): ` +
        `${errorMessage(error)}. Try gpu: false, or build one with "npx --no node-llama-cpp source download".`,
      { cause: error },
    );
  }
}

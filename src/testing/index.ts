export {
  scriptedBackend,
  textChunks,
  type ScriptStep,
  type ScriptedBackend,
  type ScriptedBackendOptions,
} from "./scripted-backend.js";

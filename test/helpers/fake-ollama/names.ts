/**
 * Model names as Ollama reads and shows them, modelled on `types/model/name.go` (`ParseNameBare`,
 * `Merge` with `DefaultName`, `String`, `DisplayShortest`) and `server/routes.go` `getExistingName`
 * (each part of a name is matched case-insensitively against the pulled models, and takes the
 * pulled model's spelling).
 */

const DEFAULT_HOST = "registry.ollama.ai";
const DEFAULT_NAMESPACE = "library";
const DEFAULT_TAG = "latest";

/** The four parts of a model name. */
export interface ModelName {
  host: string;
  namespace: string;
  model: string;
  tag: string;
}

/** Split at the last `sep`: `[before, after]`, or `undefined` when there is none. */
function cutLast(s: string, sep: string): [string, string] | undefined {
  const i = s.lastIndexOf(sep);
  return i < 0 ? undefined : [s.slice(0, i), s.slice(i + sep.length)];
}

/** `ParseName`: the tag after the last `:` that follows the last `/`, then model, namespace, host; defaults filled in. */
export function parseName(input: string): ModelName {
  let s = input;
  let tag = "";
  if (s.lastIndexOf(":") > s.lastIndexOf("/")) [s, tag] = cutLast(s, ":")!;
  let model = s;
  let namespace = "";
  let host = "";
  const m = cutLast(s, "/");
  if (m) {
    [s, model] = m;
    const n = cutLast(s, "/");
    if (n) {
      [s, namespace] = n;
      host = s.includes("://") ? s.slice(s.indexOf("://") + 3) : s;
    } else {
      namespace = s;
    }
  }
  return { host: host || DEFAULT_HOST, namespace: namespace || DEFAULT_NAMESPACE, model, tag: tag || DEFAULT_TAG };
}

/** `Name.String`: the full name, `registry.ollama.ai/library/llama3.2:latest`. */
export const fullName = (n: ModelName) => `${n.host}/${n.namespace}/${n.model}:${n.tag}`;

/** `DisplayShortest`: what `/api/ps` and `/api/tags` show, `llama3.2:latest`, `me/model:7b`. */
export function displayShortest(n: ModelName): string {
  let prefix = "";
  if (n.host.toLowerCase() !== DEFAULT_HOST) prefix = `${n.host}/${n.namespace}/`;
  else if (n.namespace.toLowerCase() !== DEFAULT_NAMESPACE) prefix = `${n.namespace}/`;
  return `${prefix}${n.model}:${n.tag}`;
}

/** The key two spellings of one model share (`getExistingName` folds case part by part). */
export const nameKey = (input: string) => fullName(parseName(input)).toLowerCase();

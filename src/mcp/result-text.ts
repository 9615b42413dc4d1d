/** A content part of an MCP tool result, as far as this module reads it. */
interface ContentPart {
  type?: unknown;
  text?: unknown;
  data?: unknown;
  mimeType?: unknown;
  uri?: unknown;
  name?: unknown;
  resource?: { uri?: unknown; mimeType?: unknown; text?: unknown; blob?: unknown };
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** Decoded size of a base64 string, in bytes. */
function base64Bytes(data: string): number {
  const padding = data.endsWith("==") ? 2 : data.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((data.length * 3) / 4) - padding);
}

function partText(part: ContentPart): string {
  switch (part.type) {
    case "text":
      return str(part.text) ?? "";
    case "image":
    case "audio": {
      const bytes = str(part.data) === undefined ? "" : `, ${base64Bytes(str(part.data)!)} bytes`;
      return `[${part.type}: ${str(part.mimeType) ?? "unknown type"}${bytes}]`;
    }
    case "resource_link":
      return `[resource link: ${str(part.name) ?? ""} <${str(part.uri) ?? ""}>]`;
    case "resource": {
      const resource = part.resource ?? {};
      const uri = str(resource.uri) ?? "";
      const text = str(resource.text);
      if (text !== undefined) return `[resource <${uri}>]\n${text}`;
      const blob = str(resource.blob);
      const bytes = blob === undefined ? "" : `, ${base64Bytes(blob)} bytes`;
      return `[resource <${uri}>: ${str(resource.mimeType) ?? "binary"}${bytes}]`;
    }
    default:
      return `[${typeof part.type === "string" ? part.type : "unknown"} content]`;
  }
}

/**
 * The text of an MCP `tools/call` result: text parts joined by newlines, other parts summarised
 * (`[image: image/png, 68 bytes]`). Without content, the structured content (or a legacy
 * `toolResult`) as JSON.
 */
export function resultText(result: unknown): string {
  if (typeof result !== "object" || result === null) return "";
  const { content, structuredContent, toolResult } = result as {
    content?: unknown;
    structuredContent?: unknown;
    toolResult?: unknown;
  };
  if (Array.isArray(content) && content.length > 0) {
    return content.map((part) => partText((part ?? {}) as ContentPart)).join("\n");
  }
  if (structuredContent !== undefined) return JSON.stringify(structuredContent);
  if (toolResult !== undefined) return typeof toolResult === "string" ? toolResult : JSON.stringify(toolResult);
  return "";
}

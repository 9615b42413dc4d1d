/**
 * Model output to safe HTML: `marked` renders GitHub-flavoured markdown, DOMPurify removes
 * anything that could run code or reach the network (scripts, event handlers, `javascript:`
 * URLs, iframes, forms, images and media). The result is safe to assign to `innerHTML`.
 */
import DOMPurify from "dompurify";
import { Marked } from "marked";

const marked = new Marked({ gfm: true, breaks: true, async: false });

// Tags a model's answer has no business rendering. Images and media are dropped too: a prompt
// injection could otherwise make the page fetch a URL that carries the conversation away.
const FORBID_TAGS = [
  "style",
  "img",
  "picture",
  "video",
  "audio",
  "source",
  "track",
  "form",
  "input",
  "button",
  "select",
  "textarea",
  "iframe",
  "object",
  "embed",
];

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  // Links open in a new tab, without handing this page to the target.
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

/** Render markdown (possibly cut mid-stream: an open code fence renders as code) to sanitised HTML. */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false });
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS, FORBID_ATTR: ["style"] });
}

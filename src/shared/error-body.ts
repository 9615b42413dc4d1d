/** At most this much of an HTTP error answer's body is read: enough for any server's message. */
export const ERROR_BODY_MAX_BYTES = 64 * 1024;
/** An HTTP error answer's body is read for at most this long: its status already says what failed. */
export const ERROR_BODY_MAX_MS = 2_000;

/**
 * The text of an HTTP error answer's body, read for its message only: at most `maxBytes`, for at
 * most `maxMs`, then the body is cancelled (which closes its connection). A server that streams
 * an endless or stalled body with its error status costs neither memory nor the caller's
 * deadline. Rejects as reading the body does (an abort, a dropped connection).
 */
export async function readErrorBody(response: Response, maxBytes = ERROR_BODY_MAX_BYTES, maxMs = ERROR_BODY_MAX_MS): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), maxMs);
  });
  try {
    while (size < maxBytes) {
      const step = await Promise.race([reader.read(), late]);
      if (step === "late" || step.done) break;
      const bytes = size + step.value.length > maxBytes ? step.value.subarray(0, maxBytes - size) : step.value;
      size += bytes.length;
      text += decoder.decode(bytes, { stream: true });
    }
    return text + decoder.decode();
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
}

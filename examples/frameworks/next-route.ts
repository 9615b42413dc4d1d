/**
 * A Next.js route handler: save as `app/api/agent/route.ts` (with `pipeline` and the user check
 * from your own modules). Next.js calls `POST` with the Web `Request` and streams the `Response`.
 */
import { createAgUiResponse } from "zoe-pipeline";
import { pipeline, userOfRequest } from "./shared.js";

// The pipeline uses Node APIs, and every answer is a live stream.
export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export async function POST(request: Request): Promise<Response> {
  return createAgUiResponse(pipeline, request, { getUserId: userOfRequest });
}

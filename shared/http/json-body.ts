// Reads a JSON object body within a size limit, refusing anything else before it is parsed.
import type { Context } from "hono";
import { ApiError } from "./errors";

export const MAX_BODY_BYTES = 16 * 1024;

export async function readJsonObject(c: Context, limit = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError(415, "unsupported_media_type", "Content-Type must be application/json");
  }
  const declared = Number(c.req.header("content-length"));
  if (declared > limit) throw tooLarge(limit);

  const text = await readText(c.req.raw, limit);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, "malformed_json", "The request body is not valid JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ApiError(400, "invalid_body", "The request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

// Content-Length can be absent (chunked) or wrong, so the limit is enforced on the bytes actually read.
async function readText(request: Request, limit: number): Promise<string> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, "payload_too_large", `The request body must be at most ${limit} bytes`);
}

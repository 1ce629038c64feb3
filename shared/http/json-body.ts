// Reads a request body within a size limit (a JSON object, or text), refusing anything else before it is parsed.
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { ApiError } from "./errors";

export const MAX_BODY_BYTES = 16 * 1024;

export async function readJsonObject(c: Context, limit = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError(415, "unsupported_media_type", "Content-Type must be application/json");
  }
  const value = await readJson(c, limit);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ApiError(400, "invalid_body", "The request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** The body parsed as JSON, whatever its shape: 413 past `limit` bytes, 400 when it is not JSON. */
export async function readJson(c: Context, limit: number): Promise<unknown> {
  const text = await readBodyText(c, limit);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, "malformed_json", "The request body is not valid JSON");
  }
}

/** The body as text, refused with 413 past `limit` bytes, whether Content-Length says so or the bytes read do. */
async function readBodyText(c: Context, limit: number): Promise<string> {
  const declared = Number(c.req.header("content-length"));
  if (declared > limit) throw tooLarge(limit);
  // On a server, @hono/node-server hands over the Node request: reading it directly spares building an undici
  // Request and a web stream for every body. Requests made in-process (tests) have only the web stream.
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming ? readIncoming(incoming, limit) : readText(c.req.raw, limit);
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

// Past the limit the rest of the body is left to flow away unread rather than destroying the request, so the
// client still hears the 413 on a connection that stays usable.
function readIncoming(incoming: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      incoming.resume();
      reject(tooLarge(limit));
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
  });
}

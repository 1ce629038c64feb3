// Reads a request body within a size limit (a JSON object, or text), refusing anything else before it is parsed.
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { incomingOf } from "./early-close";
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
export async function readBodyText(c: Context, limit: number): Promise<string> {
  const declared = Number(c.req.header("content-length"));
  if (declared > limit) throw tooLarge(limit);
  // On a server, @hono/node-server hands over the Node request: reading it directly spares building an undici
  // Request and a web stream for every body. Requests made in-process (tests) have only the web stream.
  const incoming = incomingOf(c.env);
  return incoming ? readIncoming(incoming, limit) : readText(c.req.raw, limit);
}

// Invalid UTF-8 would otherwise become U+FFFD and be stored as text nobody sent; refused like NUL instead.
const utf8 = new TextDecoder("utf-8", { fatal: true });

function decode(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_encoding", "The request body is not valid UTF-8");
  }
}

/** A client that closed the connection before its body was sent: nobody hears the answer, and it is no fault of ours. */
export const ABORTED_REQUEST = "request_aborted";

function aborted(): ApiError {
  return new ApiError(400, ABORTED_REQUEST, "The client closed the connection before sending the whole body");
}

// Content-Length can be absent (chunked) or wrong, so the limit is enforced on the bytes actually read.
async function readText(request: Request, limit: number): Promise<string> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read().catch(() => {
      throw aborted();
    });
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return decode(Buffer.concat(chunks));
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, "payload_too_large", `The request body must be at most ${limit} bytes`);
}

// Past the limit the rest of the body is not read: the 413 goes out at once with Connection: close
// (closeAfterEarlyAnswer), so the connection ends after the answer instead of carrying the rest of the upload.
function readIncoming(incoming: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onAborted);
      incoming.off("close", onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      incoming.pause();
      reject(tooLarge(limit));
    };
    const onEnd = () => {
      stop();
      try {
        resolve(decode(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    };
    // An error on a request being read is the client's connection ending early (Node's "aborted").
    const onAborted = () => {
      stop();
      reject(aborted());
    };
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onAborted);
    incoming.on("close", onAborted);
  });
}

// The CloudEvents HTTP batched content mode (HTTP protocol binding 1.0, §3.3): one request carries a JSON array of
// structured-mode events (JSON event format 1.0). The JetStream source uses it for the consumers that opt in, so a
// sink that writes in batches receives hundreds of events per request instead of one. The source builds batches
// with these types and the functions read them with these helpers, so both sides agree on one format.
import type { Context } from "hono";
import { ApiError } from "./errors";
import { InvalidInput, type ErrorDetail } from "../errors";
import { readJson } from "./json-body";

export const BATCH_CONTENT_TYPE = "application/cloudevents-batch+json";

/** One event in the JSON event format: context attributes and extensions as members, data as JSON or base64. */
export interface StructuredCloudEvent {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  data?: unknown;
  data_base64?: string;
  [extension: string]: unknown;
}

/** Whether the request is a batch, so a function can take both content modes on one route. */
export function isEventBatch(c: Context): boolean {
  return mediaType(c.req.header("content-type")) === BATCH_CONTENT_TYPE;
}

/** Whether data of this media type is JSON, and so travels as a JSON value in `data` (JSON event format §3.1). */
export function isJsonMediaType(type: string | undefined): boolean {
  const media = mediaType(type);
  return media === "" || media === "application/json" || media.endsWith("+json") || media === "text/json";
}

// The delivery count of the batch read on a request, for backOffWhileUnavailable (a batch has no ce- headers).
const batchDeliveries = new WeakMap<Context, number>();

/**
 * Reads a batch within `limit` bytes, which each sink sizes to the batches its source makes. Refuses with 400 a body
 * that is not a JSON array of CloudEvents 1.0 (each with id, source and type), naming the position of the first event
 * that is not one; refuses 413 past the limit, which the source takes as a refusal of the batch and answers by
 * delivering its messages one at a time.
 */
export async function readEventBatch(c: Context, limit: number): Promise<StructuredCloudEvent[]> {
  const value = await readJson(c, limit);
  if (!Array.isArray(value)) throw new ApiError(400, "invalid_body", "A batch must be a JSON array of CloudEvents");
  value.forEach((event: unknown, index) => {
    const problem = notAnEvent(event);
    if (problem) throw new ApiError(400, "not_a_cloudevent", `Event ${index} is not a CloudEvent 1.0: ${problem}`, [{ field: `[${index}]`, issue: problem }]);
  });
  const events = value as StructuredCloudEvent[];
  batchDeliveries.set(c, Math.max(0, ...events.map((event) => Number(event.natsdeliveries) || 0)));
  return events;
}

/** The highest delivery count (natsdeliveries extension) among the events of the batch read on this request. */
export function deliveriesOfBatch(c: Context): number | undefined {
  return batchDeliveries.get(c);
}

/**
 * Each event's data as `decode` reads it, in order. When any event is not of `type`, or has data `decode` refuses
 * (with an ApiError or InvalidInput), the whole batch is refused with 400 naming every refused event by id: nothing of it should be
 * kept, and the sender can tell which events to give up on.
 */
export function decodeEventBatch<T>(events: readonly StructuredCloudEvent[], type: string, decode: (data: Record<string, unknown>) => T): T[] {
  const decoded: T[] = [];
  const refused: ErrorDetail[] = [];
  for (const event of events) {
    try {
      if (event.type !== type) throw new ApiError(400, "unsupported_event_type", `Cannot handle events of type ${event.type}`);
      decoded.push(decode(jsonObjectData(event)));
    } catch (err) {
      if (!(err instanceof ApiError || err instanceof InvalidInput)) throw err;
      refused.push({ field: event.id, issue: err.message });
    }
  }
  if (refused.length > 0) {
    const named = refused.slice(0, 10).map((detail) => detail.field).join(", ");
    const more = refused.length > 10 ? ` and ${refused.length - 10} more` : "";
    throw new ApiError(400, "invalid_events", `${refused.length} of ${events.length} events refused: ${named}${more}`, refused);
  }
  return decoded;
}

function jsonObjectData(event: StructuredCloudEvent): Record<string, unknown> {
  if (!isJsonMediaType(event.datacontenttype)) throw new ApiError(400, "unsupported_media_type", `Event data must be JSON, not ${event.datacontenttype}`);
  const data = event.data_base64 === undefined ? event.data : parseBase64Json(event.data_base64);
  if (data === null || typeof data !== "object" || Array.isArray(data)) throw new ApiError(400, "invalid_body", "The event's data must be a JSON object");
  return data as Record<string, unknown>;
}

function parseBase64Json(encoded: string): unknown {
  try {
    return JSON.parse(Buffer.from(encoded, "base64").toString("utf8"));
  } catch {
    throw new ApiError(400, "malformed_json", "The event's data is not valid JSON");
  }
}

function notAnEvent(event: unknown): string | undefined {
  if (event === null || typeof event !== "object" || Array.isArray(event)) return "not a JSON object";
  const { specversion, id, source, type, data_base64: base64 } = event as Record<string, unknown>;
  if (specversion !== "1.0") return `specversion ${JSON.stringify(specversion)}`;
  for (const [name, value] of [["id", id], ["source", source], ["type", type]] as const) {
    if (typeof value !== "string" || value === "") return `no ${name}`;
  }
  if (base64 !== undefined && typeof base64 !== "string") return "data_base64 is not a string";
  return undefined;
}

function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0]!.trim().toLowerCase();
}

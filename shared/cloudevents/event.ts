// A CloudEvent in the JSON event format 1.0, the same in every content mode once read: context attributes and
// extensions as members, data as a JSON value or base64. What a sender gets wrong is refused with InvalidInput, which
// a receiver answers with 400 and the JetStream source takes as a reason to dead-letter rather than retry.
import { InvalidInput } from "../errors";
import { EXTENSIONS, SPEC_VERSION } from "./spec";

/**
 * An event read in binary mode. Its receivers have only ever required specversion and type of a sender there, so id
 * and source may be missing.
 */
export interface BinaryCloudEvent<Data = unknown> {
  specversion: typeof SPEC_VERSION;
  id?: string;
  source?: string;
  type: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  data?: Data;
  data_base64?: string;
  [extension: string]: unknown;
}

/** An event as the JSON event format requires it, and as a batch carries it. */
export interface CloudEvent<Data = unknown> extends BinaryCloudEvent<Data> {
  id: string;
  source: string;
}

/** An event as a receiver has it once its data is read, in either content mode. */
export type ReceivedCloudEvent<Data> = BinaryCloudEvent<Data> & { data: Data };

/** Whether data of this media type is JSON, and so travels as a JSON value in `data` (JSON event format §3.1). */
export function isJsonMediaType(type: string | undefined): boolean {
  const media = mediaType(type);
  return media === "" || media === "application/json" || media.endsWith("+json") || media === "text/json";
}

export function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0]!.trim().toLowerCase();
}

/** What keeps `value` from being a CloudEvent 1.0 with id, source and type, if anything. */
export function notAnEvent(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "not a JSON object";
  const { specversion, id, source, type, data_base64: base64 } = value as Record<string, unknown>;
  if (specversion !== SPEC_VERSION) return `specversion ${JSON.stringify(specversion)}`;
  for (const [name, attribute] of [
    ["id", id],
    ["source", source],
    ["type", type],
  ] as const) {
    if (typeof attribute !== "string" || attribute === "") return `no ${name}`;
  }
  if (base64 !== undefined && typeof base64 !== "string") return "data_base64 is not a string";
  return undefined;
}

export function requireType(event: Pick<CloudEvent, "type">, type: string): void {
  if (event.type !== type) throw new InvalidInput("unsupported_event_type", `Cannot handle events of type ${event.type}`);
}

/** The event's data as the JSON object its receivers take, whether it came as JSON or as base64 of JSON. */
export function jsonObjectData(event: CloudEvent): Record<string, unknown> {
  if (!isJsonMediaType(event.datacontenttype))
    throw new InvalidInput("unsupported_media_type", `Event data must be JSON, not ${event.datacontenttype}`);
  const data = event.data_base64 === undefined ? event.data : parseBase64Json(event.data_base64);
  if (data === null || typeof data !== "object" || Array.isArray(data))
    throw new InvalidInput("invalid_body", "The event's data must be a JSON object");
  return data as Record<string, unknown>;
}

function parseBase64Json(encoded: string): unknown {
  try {
    return JSON.parse(Buffer.from(encoded, "base64").toString("utf8"));
  } catch {
    throw new InvalidInput("malformed_json", "The event's data is not valid JSON");
  }
}

/** The most times JetStream has delivered any of the events (0 when none says). */
export function deliveriesOf(events: readonly { [extension: string]: unknown }[]): number {
  return Math.max(0, ...events.map((event) => Number(event[EXTENSIONS.deliveries]) || 0));
}

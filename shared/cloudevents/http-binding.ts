// The HTTP protocol binding 1.0 as pure functions over headers and bodies, for the sender (the JetStream source, the
// local schedules, tests) and the receivers alike: binary mode, one event per request with its attributes in ce-*
// headers and its data as the body; batched mode, a JSON array of structured-mode events in one request. Reading a
// body within a limit is the caller's part (shared/http/cloudevent.ts), so the source can use this without Hono.
import { InvalidInput, type ErrorDetail } from "../errors";
import {
  isJsonMediaType,
  jsonObjectData,
  mediaType,
  notAnEvent,
  requireType,
  type BinaryCloudEvent,
  type CloudEvent,
  type ReceivedCloudEvent,
} from "./event";
import { BATCH_CONTENT_TYPE, HEADER_PREFIX, HEADERS, SPEC_VERSION, headerOf } from "./spec";

/** A request as the binding makes it: header names in lower case. */
export interface HttpMessage {
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The attributes and extensions a sender gives an event; the binding adds specversion. */
export interface OutgoingAttributes {
  id: string;
  source: string;
  type: string;
  [attribute: string]: string;
}

/** Attributes and extensions in binary mode, ce-<name> each, and the data's media type as Content-Type. */
export function binaryHeaders(attributes: OutgoingAttributes, datacontenttype: string): Record<string, string> {
  const headers: Record<string, string> = { "content-type": datacontenttype };
  for (const [name, value] of Object.entries({ specversion: SPEC_VERSION, ...attributes })) headers[headerOf(name)] = value;
  return headers;
}

/** One event in binary mode, its data as the body, bytes untouched. */
export function toBinary(attributes: OutgoingAttributes, datacontenttype: string, data: Uint8Array | string): HttpMessage {
  return { headers: binaryHeaders(attributes, datacontenttype), body: typeof data === "string" ? Buffer.from(data) : data };
}

/**
 * The same as one structured-mode event, or undefined when its data says it is JSON but is not: a batch could not
 * carry it as it is, so the sender sends it alone in binary mode, bytes untouched, and the receiver decides.
 */
export function toStructured(attributes: OutgoingAttributes, datacontenttype: string, data: Uint8Array): CloudEvent | undefined {
  const event: CloudEvent = { specversion: SPEC_VERSION, ...attributes, datacontenttype };
  if (!isJsonMediaType(datacontenttype)) {
    event.data_base64 = Buffer.from(data).toString("base64");
    return event;
  }
  try {
    // Parsed rather than pasted in as text: only a value that is JSON can go in, never one that would end the event early.
    event.data = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  return event;
}

export function toBatch(events: readonly CloudEvent[]): HttpMessage {
  return { headers: { "content-type": BATCH_CONTENT_TYPE }, body: Buffer.from(JSON.stringify(events)) };
}

/** Whether a request with this Content-Type is a batch; any other is taken as binary mode. */
export function isBatch(contentType: string | undefined): boolean {
  return mediaType(contentType) === BATCH_CONTENT_TYPE;
}

/**
 * The attributes of a binary-mode event of `type`, from the request's headers (names in lower case), before its body
 * is read: what is not one is refused without reading it.
 */
export function binaryAttributes(headers: Record<string, string | undefined>, type: string): BinaryCloudEvent<undefined> {
  if (headers[HEADERS.specversion] !== SPEC_VERSION) throw new InvalidInput("not_a_cloudevent", "Expected a binary-mode CloudEvent 1.0");
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    // The sender's secret proves who sent the event and is none of the event's business: kept off it, so it is never
    // logged or passed on with it.
    if (name.startsWith(HEADER_PREFIX) && name !== HEADERS.sender) attributes[name.slice(HEADER_PREFIX.length)] = value;
  }
  if (headers["content-type"] !== undefined) attributes.datacontenttype = headers["content-type"];
  const event = attributes as BinaryCloudEvent<undefined>;
  requireType(event, type);
  return event;
}

/**
 * The events of a batch body already parsed as JSON. What is not a JSON array of CloudEvents 1.0 is refused, naming the
 * position of the first event that is not one.
 */
export function fromBatch(value: unknown): CloudEvent[] {
  if (!Array.isArray(value)) throw new InvalidInput("invalid_body", "A batch must be a JSON array of CloudEvents");
  value.forEach((event: unknown, index) => {
    const problem = notAnEvent(event);
    if (problem)
      throw new InvalidInput("not_a_cloudevent", `Event ${index} is not a CloudEvent 1.0: ${problem}`, [
        { field: `[${index}]`, issue: problem },
      ]);
  });
  return value as CloudEvent[];
}

/**
 * Each event with its data as `decode` reads it, in order. When any event is not of `type`, or has data `decode`
 * refuses (with InvalidInput), the whole batch is refused naming every refused event by id: nothing of it should be
 * kept, and the sender can tell which events to give up on.
 */
export function decodeBatch<T>(
  events: readonly CloudEvent[],
  type: string,
  decode: (data: Record<string, unknown>) => T,
): (CloudEvent<T> & ReceivedCloudEvent<T>)[] {
  const decoded: (CloudEvent<T> & ReceivedCloudEvent<T>)[] = [];
  const refused: ErrorDetail[] = [];
  for (const event of events) {
    try {
      requireType(event, type);
      const { data_base64: _, ...attributes } = event;
      decoded.push({ ...attributes, data: decode(jsonObjectData(event)) });
    } catch (err) {
      if (!(err instanceof InvalidInput)) throw err;
      refused.push({ field: event.id, issue: err.message });
    }
  }
  if (refused.length > 0) {
    const named = refused
      .slice(0, 10)
      .map((detail) => detail.field)
      .join(", ");
    const more = refused.length > 10 ? ` and ${refused.length - 10} more` : "";
    throw new InvalidInput("invalid_events", `${refused.length} of ${events.length} events refused: ${named}${more}`, refused);
  }
  return decoded;
}

// For functions the JetStream source and the schedules call: the CloudEvents they take, read off the request within
// the route's body limit and put on the context, so a handler sees events and never a content mode. What is not an
// event of the expected type is refused with 400, which makes the source dead-letter it instead of retrying it.
import type { Context, MiddlewareHandler } from "hono";
import { deliveriesOf, type BinaryCloudEvent, type ReceivedCloudEvent } from "../cloudevents/event";
import { binaryAttributes, decodeBatch, fromBatch, isBatch } from "../cloudevents/http-binding";
import { readBodyText, readJson, readJsonObject } from "./json-body";
import { EXTENSIONS } from "../cloudevents/spec";
import { linkToAll } from "../telemetry/tracing";

// What each request carried, for backOffWhileUnavailable: the delivery counts are attributes of the events.
const received = new WeakMap<Context, readonly BinaryCloudEvent[]>();

/**
 * One binary-mode event of `type`, its data the body as text of at most `limit` bytes (413 past it), for handlers
 * that parse their own data: `c.var.cloudEvent`.
 */
export function cloudEvent(type: string, limit: number): MiddlewareHandler<{ Variables: { cloudEvent: ReceivedCloudEvent<string> } }> {
  return async (c, next) => {
    const attributes = binaryAttributes(c.req.header(), type);
    received.set(c, [attributes]);
    c.set("cloudEvent", { ...attributes, data: await readBodyText(c, limit) });
    await next();
  };
}

export interface EventLimits {
  /** One event in binary mode. */
  event: number;
  /** A whole batch, which each sink sizes to the batches its source makes. */
  batch: number;
}

/**
 * Events of `type` with JSON object data, in either mode: one binary-mode event, or a batch of structured-mode
 * events, each with its data as `decode` reads it: `c.var.cloudEvents`. Every event is decoded before the handler
 * runs, so a refused request leaves nothing half done. A batch past its limit is refused with 413, which the source
 * answers by delivering its messages one at a time.
 */
export function cloudEvents<T>(
  type: string,
  decode: (data: Record<string, unknown>) => T,
  limits: EventLimits,
): MiddlewareHandler<{ Variables: { cloudEvents: ReceivedCloudEvent<T>[] } }> {
  return async (c, next) => {
    if (isBatch(c.req.header("content-type"))) {
      const events = fromBatch(await readJson(c, limits.batch));
      received.set(c, events);
      linkToAll(events.map((event) => event[EXTENSIONS.traceparent]));
      c.set("cloudEvents", decodeBatch(events, type, decode));
    } else {
      const attributes = binaryAttributes(c.req.header(), type);
      received.set(c, [attributes]);
      c.set("cloudEvents", [{ ...attributes, data: decode(await readJsonObject(c, limits.event)) }]);
    }
    await next();
  };
}

/**
 * While a store is down, asks the source to wait twice as long after each failed delivery (Retry-After 1 s, 2 s,
 * 4 s … up to `maxSeconds`, by the most delivered event of the request). The source waits what Retry-After says, so
 * without this an outage of a minute would use up a consumer's bounded deliveries and dead-letter everything.
 */
export function backOffWhileUnavailable(maxSeconds = 30): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.res.status !== 503) return;
    const deliveries = Math.max(1, deliveriesOf(received.get(c) ?? []));
    c.res.headers.set("Retry-After", String(Math.min(maxSeconds, 2 ** Math.min(deliveries - 1, 30))));
  };
}

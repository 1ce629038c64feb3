// For functions the JetStream source calls: binary-mode CloudEvents, one per request, or a batch of structured-mode
// events in one request (see cloudevent-batch.ts). What is not an event of the expected type is refused with 400,
// which makes the source dead-letter it instead of retrying it.
import type { MiddlewareHandler } from "hono";
import { deliveriesOfBatch, isEventBatch } from "./cloudevent-batch";
import { ApiError } from "./errors";

/** Checks a binary-mode event's headers; a batch carries its attributes inside, where decodeEventBatch checks them. */
export function cloudEvent(type: string): MiddlewareHandler {
  return async (c, next) => {
    if (isEventBatch(c)) return next();
    if (c.req.header("ce-specversion") !== "1.0") throw new ApiError(400, "not_a_cloudevent", "Expected a binary-mode CloudEvent 1.0");
    const given = c.req.header("ce-type");
    if (given !== type) throw new ApiError(400, "unsupported_event_type", `Cannot handle events of type ${given}`);
    await next();
  };
}

/**
 * While a store is down, asks the source to wait twice as long after each failed delivery (Retry-After 1 s, 2 s,
 * 4 s … up to `maxSeconds`, by the ce-natsdeliveries the source sends, or a batch's highest natsdeliveries). The
 * source waits what Retry-After says, so without this an outage of a minute would use up a consumer's bounded
 * deliveries and dead-letter everything.
 */
export function backOffWhileUnavailable(maxSeconds = 30): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.res.status !== 503) return;
    const deliveries = Math.max(1, Number(c.req.header("ce-natsdeliveries")) || deliveriesOfBatch(c) || 1);
    c.res.headers.set("Retry-After", String(Math.min(maxSeconds, 2 ** Math.min(deliveries - 1, 30))));
  };
}

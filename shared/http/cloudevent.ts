// For functions the JetStream source calls: one binary-mode CloudEvent per request. What is not an event of the
// expected type is refused with 400, which makes the source dead-letter it instead of retrying it.
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./errors";

export function cloudEvent(type: string): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.header("ce-specversion") !== "1.0") throw new ApiError(400, "not_a_cloudevent", "Expected a binary-mode CloudEvent 1.0");
    const given = c.req.header("ce-type");
    if (given !== type) throw new ApiError(400, "unsupported_event_type", `Cannot handle events of type ${given}`);
    await next();
  };
}

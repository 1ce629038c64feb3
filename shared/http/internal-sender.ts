// Internal functions (the CloudEvent receivers) take no user token: their only legitimate callers are the JetStream
// source and the schedules, which prove who they are with a secret they share with the receivers (INTERNAL_SECRET,
// from the cluster's Secret). Knative's own sender identity (OIDC tokens) is alpha and does not cover a plain
// Knative Service as a sink; docs/runbook.md says why this was chosen instead.
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { EXTENSIONS, HEADERS } from "../cloudevents/spec";
import { ApiError } from "./errors";

/**
 * The one header that carries the secret. A CloudEvents extension in binary mode (ce-<name>), so a PingSource can
 * send it through its ceOverrides as well as the source through a plain header.
 */
export const SENDER_HEADER = HEADERS.sender;
/** The same as a CloudEvents extension attribute name (lower-case letters and digits). */
export const SENDER_EXTENSION = EXTENSIONS.sender;

// Digests of equal length, so the comparison takes the same time whatever the length of what was sent.
const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether `given` is the secret, in time that does not depend on where they differ. */
export function isInternalSender(secret: string, given: string | undefined): boolean {
  return given !== undefined && timingSafeEqual(digest(secret), digest(given));
}

/** Refuses with 401, before the body is read, any request that does not carry the secret. */
export function internalSenders(secret: string): MiddlewareHandler {
  return async (c, next) => {
    if (!isInternalSender(secret, c.req.header(SENDER_HEADER))) {
      throw new ApiError(401, "unknown_sender", "This function takes events only from the JetStream source and the schedules");
    }
    await next();
  };
}

// The one error shape every function answers with: {"error": {code, message, details}}.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DependencyUnavailable } from "../clients/dependency";
import { InvalidInput, InvalidToken, type ErrorDetail } from "../errors";
import { log } from "../log";
import { tracing } from "../telemetry/tracing";
import { incomingTraceId } from "./observe";

/** A refusal the client can act on: answered with its status and code. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

export const RETRY_AFTER_SECONDS = 2;

/** The answer for a trip that is not the caller's, exactly as for one that does not exist. */
export function tripNotFound(id: string): ApiError {
  return new ApiError(404, "trip_not_found", `No trip ${id} for this user`);
}

export function errorBody(code: string, message: string, details: ErrorDetail[] = []) {
  return { error: { code, message, details } };
}

export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message, err.details), err.status);
  if (err instanceof InvalidInput) return c.json(errorBody(err.code, err.message, err.details), 400);
  if (err instanceof InvalidToken) return c.json(errorBody("unauthorized", err.message), 401);
  if (err instanceof DependencyUnavailable) {
    c.header("Retry-After", String(RETRY_AFTER_SECONDS));
    return c.json(errorBody("service_unavailable", `${err.dependency} is unavailable, retry shortly`), 503);
  }
  // With tracing on, log() adds the active span's ids; off, the caller's trace id still names the request.
  const traceId = tracing() ? undefined : incomingTraceId(c);
  log("error", "unhandled error", {
    path: c.req.path,
    err: String(err),
    stack: (err as Error)?.stack,
    ...(traceId && { trace_id: traceId }),
  });
  return c.json(errorBody("internal_error", "Something went wrong on our side"), 500);
}

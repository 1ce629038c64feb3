// A rate limit as middleware: every answer it lets through carries the client's allowance, and a request over it is
// refused with 429 before any work, in the fields of draft-ietf-httpapi-ratelimit-headers-10/11:
//   RateLimit-Policy: "bookings";q=10;w=60     the limit: 10 per 60 s
//   RateLimit: "bookings";r=0;t=42             what is left now, and seconds until it is all back
import type { MiddlewareHandler } from "hono";
import type { RateLimiter } from "../rate-limit";
import type { AuthEnv } from "./auth";
import { ApiError } from "./errors";

/** Limits each caller (the token's principal, so it goes after requireRole); passes everything when there is no limiter. */
export function rateLimitPerPrincipal(limiter: RateLimiter | undefined): MiddlewareHandler<AuthEnv> {
  if (!limiter?.enabled) return (_c, next) => next();
  const policy = `"${limiter.name}";q=${limiter.policy.limit};w=${limiter.policy.windowSeconds}`;
  return async (c, next) => {
    const decision = await limiter.take(c.get("principal").id);
    if (decision) {
      c.header("RateLimit-Policy", policy);
      c.header("RateLimit", `"${limiter.name}";r=${decision.remaining};t=${decision.resetSeconds}`);
    }
    if (decision && !decision.allowed) {
      c.header("Retry-After", String(decision.retryAfterSeconds));
      throw new ApiError(
        429,
        "rate_limited",
        `Too many requests: at most ${limiter.policy.limit} every ${limiter.policy.windowSeconds} s`,
        [{ field: limiter.name, issue: `retry after ${decision.retryAfterSeconds} s` }],
      );
    }
    await next();
  };
}

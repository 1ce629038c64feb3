// The bearer-token check every public route starts with: shared/tokens.ts verifies, this reads the header and the role.
import type { MiddlewareHandler } from "hono";
import type { Principal, Role } from "../principal";
import { InvalidToken } from "../errors";
import { VerifiedTokens } from "../tokens";
import { ApiError } from "./errors";

export type AuthEnv = { Variables: { principal: Principal } };

// The scheme name is case-insensitive (RFC 9110 §11.1).
const BEARER = /^bearer +(\S+) *$/i;

/** Requires a valid bearer token whose role is one of `roles`. */
export function requireRole(secret: string, ...roles: Role[]): MiddlewareHandler<AuthEnv> {
  const tokens = new VerifiedTokens();
  return async (c, next) => {
    const credentials = BEARER.exec(c.req.header("authorization") ?? "");
    if (!credentials) throw new InvalidToken("Missing bearer token");
    const principal = tokens.verify(secret, credentials[1]!);
    if (!roles.includes(principal.role)) {
      throw new ApiError(403, "forbidden", `This endpoint is for ${roles.join(" or ")}s, not ${principal.role}s`);
    }
    c.set("principal", principal);
    await next();
  };
}

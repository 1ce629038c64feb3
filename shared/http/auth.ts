// The bearer-token check every public route starts with: shared/tokens.ts verifies, this reads the header and the role.
import type { Context, MiddlewareHandler } from "hono";
import type { Principal, Role } from "../principal";
import { InvalidToken } from "../errors";
import { VerifiedTokens } from "../tokens";
import { ApiError } from "./errors";

export type AuthEnv = { Variables: { principal: Principal } };

// The scheme name is case-insensitive (RFC 9110 §11.1).
const BEARER = /^bearer +(\S+) *$/i;

/** Requires a valid bearer token whose role is one of `roles`. */
export function requireRole(secret: string, ...roles: Role[]): MiddlewareHandler<AuthEnv> {
  return authenticate(secret, roles, (c) => BEARER.exec(c.req.header("authorization") ?? "")?.[1]);
}

/**
 * As requireRole, with the token also taken from `?token=`: a browser cannot set headers on a WebSocket or an
 * EventSource. The header wins when both are there.
 */
export function requireRoleOrQueryToken(secret: string, ...roles: Role[]): MiddlewareHandler<AuthEnv> {
  return authenticate(secret, roles, (c) => BEARER.exec(c.req.header("authorization") ?? "")?.[1] ?? (c.req.query("token") || undefined));
}

function authenticate(secret: string, roles: Role[], tokenOf: (c: Context) => string | undefined): MiddlewareHandler<AuthEnv> {
  const tokens = new VerifiedTokens();
  return async (c, next) => {
    const token = tokenOf(c);
    if (!token) throw new InvalidToken("Missing bearer token");
    const principal = tokens.verify(secret, token);
    if (!roles.includes(principal.role)) {
      throw new ApiError(403, "forbidden", `This endpoint is for ${roles.join(" or ")}s, not ${principal.role}s`);
    }
    c.set("principal", principal);
    await next();
  };
}

// HS256 JWTs, the only algorithm accepted. Verification is synchronous and allocation-light: it runs on every request.
// Pure: it throws InvalidToken, which the HTTP layer answers 401.
import { createHmac, timingSafeEqual } from "node:crypto";
import { InvalidToken } from "./errors";
import { ROLES, type Principal, type Role } from "./principal";

/** No control, format, unassigned or private-use character, and no half of a surrogate pair (Unicode category C). */
const PRINTABLE = /^[^\p{C}]+$/u;

const HEADER = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));

export function signToken(secret: string, principal: Principal, ttlSeconds = 3600, now = Date.now()): string {
  const exp = Math.floor(now / 1000) + ttlSeconds;
  const payload = base64url(JSON.stringify({ sub: principal.id, role: principal.role, exp }));
  return `${HEADER}.${payload}.${sign(secret, `${HEADER}.${payload}`)}`;
}

export function verifyToken(secret: string, token: string, now = Date.now()): Principal {
  return verify(secret, token, now).principal;
}

interface Verified {
  principal: Principal;
  expiresAtMs: number;
}

function verify(secret: string, token: string, now: number): Verified {
  const parts = token.split(".");
  if (parts.length !== 3) throw unauthorized("Malformed token");
  const [header, payload, signature] = parts as [string, string, string];

  const expected = Buffer.from(sign(secret, `${header}.${payload}`));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw unauthorized("Invalid token signature");

  // The signature is checked first, so the header below was written by someone holding the secret;
  // it must still say HS256 so that a token minted for another algorithm is never accepted.
  const alg = parseSegment(header).alg;
  if (alg !== "HS256") throw unauthorized("Token algorithm must be HS256");

  const claims = parseSegment(payload);
  if (typeof claims.exp !== "number") throw unauthorized("Token has no exp claim");
  if (claims.exp * 1000 <= now) throw unauthorized("Token has expired");
  if (claims.nbf !== undefined && (typeof claims.nbf !== "number" || claims.nbf * 1000 > now)) throw unauthorized("Token is not valid yet");
  // The sub becomes a rider or driver id: in PostgreSQL, in logs, in event ids and headers. Printable characters only.
  if (typeof claims.sub !== "string" || claims.sub.length > 128 || !PRINTABLE.test(claims.sub)) {
    throw unauthorized("Token has no valid sub claim");
  }
  if (!(ROLES as readonly unknown[]).includes(claims.role)) throw unauthorized("Token role must be rider or driver");
  return { principal: { id: claims.sub, role: claims.role as Role }, expiresAtMs: claims.exp * 1000 };
}

// A client sends the same token with every request until it expires, so a token verified once is remembered until
// its expiry: a repeat costs a map lookup instead of an HMAC and two JSON parses. Only verified tokens are kept, and
// at most MAX_REMEMBERED of them (the oldest is forgotten first), so a flood of distinct tokens cannot grow it.
// Every pod of update-location hears from every driver of the city in turn, so the bound holds a city's drivers
// (50,000 of them hold about 22 MB of heap): at 10,000 a city of 50,000 reporting in turn never met a remembered token.
const MAX_REMEMBERED = 50_000;

export class VerifiedTokens {
  private readonly byToken = new Map<string, Verified>();

  verify(secret: string, token: string, now = Date.now()): Principal {
    const known = this.byToken.get(token);
    if (known && known.expiresAtMs > now) return known.principal;
    if (known) this.byToken.delete(token);
    const verified = verify(secret, token, now);
    if (this.byToken.size >= MAX_REMEMBERED) this.byToken.delete(this.byToken.keys().next().value!);
    this.byToken.set(token, verified);
    return verified.principal;
  }
}

function unauthorized(message: string): InvalidToken {
  return new InvalidToken(message);
}

function sign(secret: string, data: string): string {
  return createHmac("sha256", secret).update(data).digest("base64url");
}

function base64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}

function parseSegment(segment: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    if (value && typeof value === "object") return value as Record<string, unknown>;
  } catch {
    // fall through: a segment that is not a JSON object is a malformed token
  }
  throw unauthorized("Malformed token");
}

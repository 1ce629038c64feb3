import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidToken } from "./errors";
import { signToken, verifyToken } from "./tokens";

const SECRET = "unit-test-secret";
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const HOUR = 3600;
const HS256 = { alg: "HS256", typ: "JWT" };
const rider = { id: "rider-7", role: "rider" } as const;

function segment(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** A token over any header and claims, signed with HMAC-SHA256 independently of signToken. */
function craft(header: unknown, claims: unknown, secret = SECRET): string {
  const data = `${segment(header)}.${segment(claims)}`;
  return `${data}.${createHmac("sha256", secret).update(data).digest("base64url")}`;
}

const validClaims = (overrides: Record<string, unknown> = {}) => ({ sub: "rider-7", role: "rider", exp: NOW / 1000 + HOUR, ...overrides });

/** Asserts that verifying `token` is refused as an InvalidToken, and returns the message. */
function refusal(token: string, secret = SECRET, now = NOW): string {
  try {
    verifyToken(secret, token, now);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidToken);
    return (err as InvalidToken).message;
  }
  throw new Error("the token was accepted");
}

describe("signToken / verifyToken", () => {
  it("round-trips the principal", () => {
    const token = signToken(SECRET, rider, HOUR, NOW);

    expect(verifyToken(SECRET, token, NOW)).toEqual(rider);
    expect(verifyToken(SECRET, signToken(SECRET, { id: "d-1", role: "driver" }, HOUR, NOW), NOW)).toEqual({ id: "d-1", role: "driver" });
  });

  it("writes a standard HS256 JWT with sub, role and exp", () => {
    const [header, payload, signature] = signToken(SECRET, rider, HOUR, NOW).split(".");

    expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toEqual(HS256);
    expect(JSON.parse(Buffer.from(payload!, "base64url").toString())).toEqual({ sub: "rider-7", role: "rider", exp: NOW / 1000 + HOUR });
    expect(signature).toBe(createHmac("sha256", SECRET).update(`${header}.${payload}`).digest("base64url"));
  });

  it("accepts a token crafted by another HS256 implementation", () => {
    expect(verifyToken(SECRET, craft(HS256, validClaims()), NOW)).toEqual(rider);
  });

  it("refuses a token once exp is reached", () => {
    const token = signToken(SECRET, rider, 60, NOW);

    expect(verifyToken(SECRET, token, NOW + 59_999)).toEqual(rider);
    expect(refusal(token, SECRET, NOW + 60_000)).toMatch(/expired/i);
    expect(refusal(token, SECRET, NOW + 3_600_000)).toMatch(/expired/i);
  });

  it("refuses a token without a numeric exp", () => {
    refusal(craft(HS256, { sub: "rider-7", role: "rider" }));
    refusal(craft(HS256, validClaims({ exp: String(NOW / 1000 + HOUR) })));
  });

  it("refuses a tampered payload", () => {
    const [header, , signature] = signToken(SECRET, rider, HOUR, NOW).split(".");
    const tampered = `${header}.${segment(validClaims({ role: "driver" }))}.${signature}`;

    expect(refusal(tampered)).toMatch(/signature/i);
  });

  it("refuses a tampered signature", () => {
    const token = signToken(SECRET, rider, HOUR, NOW);
    const last = token.at(-1) === "A" ? "B" : "A";

    refusal(`${token.slice(0, -1)}${last}`);
    refusal(`${token}A`);
    refusal(token.slice(0, token.lastIndexOf(".") + 1));
  });

  it("refuses a token signed with another secret", () => {
    refusal(signToken("another-secret", rider, HOUR, NOW));
  });

  it("refuses alg none, signed or not", () => {
    const none = { alg: "none", typ: "JWT" };

    refusal(`${segment(none)}.${segment(validClaims())}.`);
    refusal(`${segment(none)}.${segment(validClaims())}`);
    expect(refusal(craft(none, validClaims()))).toMatch(/HS256/);
  });

  it("refuses any algorithm but HS256, even with a valid HMAC", () => {
    for (const alg of ["HS512", "RS256", "hs256"]) refusal(craft({ alg, typ: "JWT" }, validClaims()));
    refusal(craft({ typ: "JWT" }, validClaims()));
  });

  it("refuses a missing, empty, non-string, over-long or unstorable sub", () => {
    for (const sub of [undefined, "", 42, "x".repeat(129), "rider\u0000", "rider-\ud800"]) refusal(craft(HS256, validClaims({ sub })));
    expect(verifyToken(SECRET, craft(HS256, validClaims({ sub: "x".repeat(128) })), NOW).id).toHaveLength(128);
  });

  it("refuses a role other than rider or driver", () => {
    for (const role of ["admin", "Rider", "", undefined, ["rider"]]) {
      expect(refusal(craft(HS256, validClaims({ role }))), String(role)).toMatch(/role/);
    }
  });

  it("refuses tokens that are not three segments of JSON objects", () => {
    for (const token of ["", "abc", "a.b", "a.b.c.d", `${segment(HS256)}..`]) refusal(token);
    refusal(craft(HS256, "not json"));
    refusal(craft("not json", validClaims()));
    refusal(craft(HS256, 42));
  });
});

// HS256 tokens minted inside k6 (no Node needed): the same header, claims and signature as shared/http/auth.ts.
import crypto from "k6/crypto";
import encoding from "k6/encoding";
import { JWT_SECRET } from "./config.js";

const HEADER = encoding.b64encode(JSON.stringify({ alg: "HS256", typ: "JWT" }), "rawurl");

/** A token for `id` in `role` (rider | driver), valid for `ttlSeconds` from now. */
export function mintToken(id, role, ttlSeconds = 3600, secret = JWT_SECRET, now = Date.now()) {
  const exp = Math.floor(now / 1000) + ttlSeconds;
  const payload = encoding.b64encode(JSON.stringify({ sub: id, role, exp }), "rawurl");
  const signature = crypto.hmac("sha256", secret, `${HEADER}.${payload}`, "base64rawurl");
  return `${HEADER}.${payload}.${signature}`;
}

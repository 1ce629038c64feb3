// Where the scripts send requests, the same way locally and on a kind cluster.
//
// Every request carries the Host header of the Knative Service it is for (<function>.<namespace>.<domain>):
// Kourier routes by it on a cluster, and the local entry point routes by it too. BASE_URL is where that
// entry point listens: http://127.0.0.1:8080 for `npm start`, http://127.0.0.1 for kind's Kourier (port 80).
export const BASE_URL = (__ENV.BASE_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
export const NAMESPACE = __ENV.NAMESPACE || "default";
export const DOMAIN = __ENV.DOMAIN || "127.0.0.1.sslip.io";
// Which load the scripts default to. "local": `npm start` on one 2-core machine with k6 beside it, at the rates
// that machine holds through the entry point (docs/performance.md, "Rates through the entry point"). "cluster":
// a kind cluster through Kourier, at the rates the scripts were written for. Every rate can still be set alone.
export const PROFILE = __ENV.PROFILE || "local";
if (PROFILE !== "local" && PROFILE !== "cluster") throw new Error(`PROFILE must be local or cluster, not ${PROFILE}`);

/** The setting for this run: the environment variable when set, else this profile's default. */
export function setting(name, defaults) {
  return __ENV[name] || defaults[PROFILE];
}

// Secret the functions verify tokens with; unset locally means the development secret, as for `npm start`.
export const JWT_SECRET = __ENV.JWT_SECRET || "uitgo-local-development-secret";

export function hostOf(fn) {
  return `${fn}.${NAMESPACE}.${DOMAIN}`;
}

/** Request parameters for one function: its Host header, the bearer token, JSON, and a name for the metrics. */
export function params(fn, token, name = fn) {
  return {
    headers: { Host: hostOf(fn), Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    tags: { name },
  };
}

export function url(path) {
  return `${BASE_URL}${path}`;
}

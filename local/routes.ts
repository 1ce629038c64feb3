// Which function serves which request: the one table behind the local entry point (local/gateway.ts).
// Two ways in, as on a kind cluster behind Kourier:
//   - by Knative host name: `Host: <function>.<namespace>.127.0.0.1.sslip.io[:port]` goes to that function, whatever the path;
//   - by path: the public API of SPEC §3.
// Only the functions of the table are public. The others (the CloudEvent receivers) are cluster-local on Knative, so
// Kourier's external gateway does not know their host names; here too, such a host name is answered like one that
// names no function at all.

export interface Route {
  method: "GET" | "POST";
  pattern: RegExp;
  function: string;
}

export const ROUTES: readonly Route[] = [
  { method: "POST", pattern: /^\/v1\/trips$/, function: "create-trip" },
  { method: "GET", pattern: /^\/v1\/trips\/[^/]+$/, function: "get-trip" },
  { method: "POST", pattern: /^\/v1\/trips\/[^/]+\/(?:accept|decline|start|complete|cancel)$/, function: "update-trip" },
  { method: "GET", pattern: /^\/v1\/drivers\/search$/, function: "search-drivers" },
  { method: "POST", pattern: /^\/v1\/drivers\/me\/location$/, function: "update-location" },
];

/** Every function the path table names (whether or not it exists yet). */
export const ROUTED_FUNCTIONS: readonly string[] = [...new Set(ROUTES.map((route) => route.function))];

const KNATIVE_HOST = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.127\.0\.0\.1\.sslip\.io\.?(?::\d+)?$/i;
const KNATIVE_SUFFIX = ".127.0.0.1.sslip.io";

/** The function a Knative host name designates, or undefined when the host is not one. */
export function functionForHost(host: string | undefined): string | undefined {
  // Cheap test first: almost every request in a load test comes with a plain 127.0.0.1:port host.
  if (!host || !host.toLowerCase().includes(KNATIVE_SUFFIX)) return undefined;
  const match = KNATIVE_HOST.exec(host);
  return match ? match[1]!.toLowerCase() : undefined;
}

/**
 * The name of the public function that serves `method path` sent to `host`, or undefined when none does: a Knative
 * host name of any other function (internal or none) included, whatever the path.
 * `path` may carry a query string; it is ignored.
 */
export function routeFor(method: string, path: string, host?: string): string | undefined {
  const byHost = functionForHost(host);
  if (byHost) return ROUTED_FUNCTIONS.includes(byHost) ? byHost : undefined;

  const query = path.indexOf("?");
  const pathname = query === -1 ? path : path.slice(0, query);
  // Hono answers HEAD with its GET route.
  const verb = method === "HEAD" ? "GET" : method;
  for (const route of ROUTES) {
    if (route.method === verb && route.pattern.test(pathname)) return route.function;
  }
  return undefined;
}

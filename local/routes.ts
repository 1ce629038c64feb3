// Which function serves which request: the one table behind the local entry point (local/gateway.ts).
// Two ways in, as on a kind cluster behind Kourier:
//   - by Knative host name: `Host: <function>.<namespace>.127.0.0.1.sslip.io[:port]` goes to that function, whatever the path;
//   - by path: the public API of SPEC §3, as each function declares it.
// Only the functions of the table are public. The others (the CloudEvent receivers) are cluster-local on Knative, so
// Kourier's external gateway does not know their host names; here too, such a host name is answered like one that
// names no function at all.
import { inspectRoutes } from "hono/dev";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { createTripApp } from "../functions/create-trip/app";
import { getTripApp } from "../functions/get-trip/app";
import { listTripsApp } from "../functions/list-trips/app";
import { homeApp } from "../functions/home/app";
import { searchDriversApp } from "../functions/search-drivers/app";
import { updateLocationApp } from "../functions/update-location/app";
import { updateTripApp } from "../functions/update-trip/app";
import { watchTripApp } from "../functions/watch-trip/app";
import type { FunctionApp } from "../shared/http/server";

// The public functions and their apps. Each app is built here only to read the routes it declares (Hono's
// inspectRoutes): no handler runs in the entry point, so the apps get no stores.
const PUBLIC_APPS: Record<string, FunctionApp> = {
  "create-trip": createTripApp(unwired()),
  "get-trip": getTripApp(unwired()),
  "update-trip": updateTripApp(unwired()),
  "search-drivers": searchDriversApp(unwired()),
  "update-location": updateLocationApp(unwired()),
  "list-trips": listTripsApp(unwired()),
  home: homeApp(unwired()),
  "watch-trip": watchTripApp(unwired()),
};

/** Every public function (those the entry point routes to). */
export const ROUTED_FUNCTIONS: readonly string[] = Object.keys(PUBLIC_APPS);

// Hono's own router, given each app's routes with the function's name as the handler, so a path matches here exactly
// when it matches in the function.
const router = new RegExpRouter<string>();
for (const [name, app] of Object.entries(PUBLIC_APPS)) {
  for (const route of inspectRoutes(app)) if (!route.isMiddleware) router.add(route.method, route.path, name);
}

/** Dependencies for an app that is only inspected: every one undefined, and a handler that ran would fail loudly. */
function unwired<T>(): T {
  return {} as T;
}

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
  return router.match(verb, pathname)[0][0]?.[0];
}

// The Knative container contract on Hono: listen on $PORT, answer probes and metrics,
// and on SIGTERM stop taking work, finish what is in flight, then close every client.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import type { Config } from "../config";
import { dependencyUnavailable, registry } from "../metrics";
import { log } from "../log";
import { closeAfterEarlyAnswer } from "./early-close";
import { DependencyUnavailable, type DependencyHandle } from "../clients/dependency";
import { errorBody, errorResponse } from "./errors";
import { shedOverload } from "./overload";
import { internalSenders } from "./internal-sender";
import { observeRequests } from "./observe";
import { startTracing, stopTracing } from "../telemetry/tracing";
import { answerProtocolErrors, invalidRequestResponse, requireHost } from "./protocol-errors";

/** A function's app, whatever its Env: the root app only mounts it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an app's Env varies by function; Hono types app.route()'s argument the same way
export type FunctionApp = Hono<any>;

export interface RunningFunction {
  port: number;
  shutdown(): Promise<void>;
}

export interface RootOptions {
  isDraining?: () => boolean;
  /** For an internal function: the secret its senders must show before any of its own routes is reached. */
  internalSecret?: string;
}

export function createRootApp(
  app: FunctionApp,
  dependencies: readonly DependencyHandle[],
  timeoutMs: number,
  options: RootOptions = {},
): Hono {
  const { isDraining = () => false, internalSecret } = options;
  const root = new Hono();
  root.use(closeAfterEarlyAnswer());

  root.use(observeRequests());
  root.use(shedOverload());

  root.get("/health/liveness", (c) => c.json({ status: "ok" }));
  const checkDependencies = async () => {
    const results = await Promise.all(
      dependencies.map(async (dep) => {
        try {
          await withTimeout(dep.ping(), timeoutMs);
          return [dep.name, "up", dep] as const;
        } catch {
          return [dep.name, "down", dep] as const;
        }
      }),
    );
    const ready = results.every(([, state, dep]) => state === "up" || dep.optional);
    return {
      ready,
      body: { status: ready ? "ready" : "not_ready", dependencies: Object.fromEntries(results.map(([name, state]) => [name, state])) },
    };
  };
  root.get("/health/readiness", async (c) => {
    if (isDraining()) return c.json({ status: "draining" }, 503);
    const { ready, body } = await checkDependencies();
    return c.json(body, ready ? 200 : 503);
  });
  // What Knative's readiness probe asks (knative/*.yaml). Failing readiness on every store blip would take
  // the pods out of service, and Knative's activator would then hold each request until the revision
  // timeout and end it with a bare 503, no Retry-After. So only the start is gated on the stores (a cold
  // pod gets no request before each has answered once); afterwards an outage gets the function's own
  // immediate 503 + Retry-After, and /health/readiness still says which store is down.
  let served = false;
  root.get("/health/serving", async (c) => {
    if (isDraining()) return c.json({ status: "draining" }, 503);
    if (!served) {
      const { ready, body } = await checkDependencies();
      if (!ready) return c.json(body, 503);
      served = true;
    }
    return c.json({ status: "serving" });
  });
  root.get("/metrics", async (c) => c.text(await registry.metrics(), 200, { "Content-Type": registry.contentType }));

  if (internalSecret !== undefined) root.use(internalSenders(internalSecret));
  root.route("/", app);
  root.notFound((c) => c.json(errorBody("not_found", `No route for ${c.req.method} ${c.req.path}`), 404));
  root.onError((err, c) => {
    if (err instanceof DependencyUnavailable) dependencyUnavailable.inc({ dependency: err.dependency });
    return errorResponse(c, err);
  });
  return root;
}

export type ServeOptions = Pick<
  Config,
  "serviceName" | "port" | "host" | "shutdownTimeoutMs" | "dependencyTimeoutMs" | "internalSecret" | "tracing"
>;

/** An HTTP Upgrade request (a WebSocket), with the root app's fetch to answer it through the function's routes. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer, fetch: Hono["fetch"]) => void;

export interface ServeExtras {
  /** A function only the JetStream source and the schedules may call (they send config.internalSecret). */
  internal?: boolean;
  /** Takes Upgrade requests; without it Node answers them as plain requests. */
  upgrade?: UpgradeListener;
  /** Ends the long-lived answers (event streams, WebSockets) when the drain starts, which the server would wait for. */
  onDrain?: () => Promise<void>;
}

export async function serveFunction(
  app: FunctionApp,
  dependencies: readonly DependencyHandle[],
  config: ServeOptions,
  { internal = false, upgrade, onDrain }: ServeExtras = {},
): Promise<RunningFunction> {
  if (internal && config.internalSecret === undefined) throw new Error("INTERNAL_SECRET must be set for an internal function");
  await startTracing(config.tracing, config.serviceName);
  let draining = false;
  const root = createRootApp(app, dependencies, config.dependencyTimeoutMs, {
    isDraining: () => draining,
    ...(internal && { internalSecret: config.internalSecret }),
  });

  // serve() without its shorthand: it takes no handler for requests @hono/node-server cannot read, which it would
  // answer with an empty 400. The hostname stands in for a missing Host (HTTP/1.0).
  const server = createServer(
    { requireHostHeader: false },
    requireHost(getRequestListener(root.fetch, { hostname: config.host, errorHandler: invalidRequestResponse })),
  );
  answerProtocolErrors(server);
  if (upgrade) server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => upgrade(req, socket, head, root.fetch));
  return new Promise((resolve) => {
    server.listen(config.port, config.host, () => {
      const info = server.address() as AddressInfo;
      log("info", "listening", { service: config.serviceName, host: config.host, port: info.port });

      const shutdown = async () => {
        if (draining) return;
        draining = true;
        log("info", "draining", { service: config.serviceName });
        const force = setTimeout(() => {
          log("error", "drain timed out, exiting", { service: config.serviceName });
          process.exit(1);
        }, config.shutdownTimeoutMs);
        force.unref();
        // Neither may stop the drain: what follows still has to close the server and the clients.
        await onDrain?.().catch((err: unknown) => log("error", "ending long-lived answers failed", { error: String(err) }));
        await new Promise<void>((done) => {
          server.close(() => done());
          server.closeIdleConnections();
        });
        await Promise.allSettled(dependencies.map((dep) => dep.close()));
        await stopTracing().catch((err: unknown) => log("error", "flushing spans failed", { error: String(err) }));
        clearTimeout(force);
        log("info", "stopped", { service: config.serviceName });
      };

      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.once(signal, () => void shutdown().then(() => process.exit(0)));
      }
      resolve({ port: info.port, shutdown });
    });
  });
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

// The Knative container contract on Hono: listen on $PORT, answer probes and metrics,
// and on SIGTERM stop taking work, finish what is in flight, then close every client.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { Config } from "../config";
import { dependencyUnavailable, httpRequestDuration, registry } from "../metrics";
import { log } from "../log";
import { DependencyUnavailable, errorBody, errorResponse } from "./errors";
import { shedOverload } from "./overload";

/** A client the function holds open: probed for readiness, closed on shutdown. */
export interface DependencyHandle {
  name: string;
  ping(): Promise<unknown>;
  close(): Promise<unknown>;
}

export interface RunningFunction {
  port: number;
  shutdown(): Promise<void>;
}

export function createRootApp(app: Hono<any>, dependencies: readonly DependencyHandle[], timeoutMs: number, isDraining = () => false): Hono {
  const root = new Hono();

  root.use(async (c, next) => {
    const start = performance.now();
    await next();
    httpRequestDuration.observe(
      { method: c.req.method, route: c.req.routePath, status: String(c.res.status) },
      (performance.now() - start) / 1000,
    );
  });
  root.use(shedOverload());

  root.get("/health/liveness", (c) => c.json({ status: "ok" }));
  root.get("/health/readiness", async (c) => {
    if (isDraining()) return c.json({ status: "draining" }, 503);
    const results = await Promise.all(
      dependencies.map(async (dep) => {
        try {
          await withTimeout(dep.ping(), timeoutMs);
          return [dep.name, "up"] as const;
        } catch {
          return [dep.name, "down"] as const;
        }
      }),
    );
    const ready = results.every(([, state]) => state === "up");
    return c.json({ status: ready ? "ready" : "not_ready", dependencies: Object.fromEntries(results) }, ready ? 200 : 503);
  });
  root.get("/metrics", async (c) => c.text(await registry.metrics(), 200, { "Content-Type": registry.contentType }));

  root.route("/", app);
  root.notFound((c) => c.json(errorBody("not_found", `No route for ${c.req.method} ${c.req.path}`), 404));
  root.onError((err, c) => {
    if (err instanceof DependencyUnavailable) dependencyUnavailable.inc({ dependency: err.dependency });
    return errorResponse(c, err);
  });
  return root;
}

export type ServeOptions = Pick<Config, "serviceName" | "port" | "shutdownTimeoutMs" | "dependencyTimeoutMs">;

export function serveFunction(app: Hono<any>, dependencies: readonly DependencyHandle[], config: ServeOptions): Promise<RunningFunction> {
  let draining = false;
  const root = createRootApp(app, dependencies, config.dependencyTimeoutMs, () => draining);

  return new Promise((resolve) => {
    const server = serve({ fetch: root.fetch, port: config.port }, (info: AddressInfo) => {
      log("info", "listening", { service: config.serviceName, port: info.port });

      const shutdown = async () => {
        if (draining) return;
        draining = true;
        log("info", "draining", { service: config.serviceName });
        const force = setTimeout(() => {
          log("error", "drain timed out, exiting", { service: config.serviceName });
          process.exit(1);
        }, config.shutdownTimeoutMs);
        force.unref();
        await new Promise<void>((done) => {
          (server as Server).close(() => done());
          (server as Server).closeIdleConnections();
        });
        await Promise.allSettled(dependencies.map((dep) => dep.close()));
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

// The ceiling the bench measures every function against: a function that does no work, on the very
// HTTP bootstrap every function uses (probes, metrics, error handling), bundled the same way. It lives
// outside functions/ so that it is never deployed.
import { Hono } from "hono";
import { loadConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";

await serveFunction(
  new Hono().get("/hello", (c) => c.json({ hello: "world" })),
  [],
  loadConfig(),
);

// Overload shedding on a real running function (search-drivers, its own process, on the real Redis behind a
// relay that can go silent), and the event loop's lateness as a second sign, on a Hono app in this process.
import { request } from "node:http";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundlePath } from "../../esbuild.config";
import { PROFILES } from "../../infra/profiles";
import { freePort, startBundle, waitFor, waitUntilReady, type BundleProcess } from "../../harness/processes";
import { TcpProxy } from "../../harness/tcp-proxy";
import { TEST_ENV } from "../../tests/support/test-env";
import { BATCH_CONTENT_TYPE, HEADERS, SPEC_VERSION } from "../cloudevents/spec";
import { loadOverloadLimits } from "../config";
import { signToken } from "../tokens";
import { shedOverload } from "./overload";

const MAX_IN_FLIGHT = 4;
const MAX_WAIT_MS = 1_500;

describe("a function past its requests in flight", () => {
  let proxy: TcpProxy;
  let fn: BundleProcess;
  let base: string;
  const token = signToken(TEST_ENV.JWT_SECRET, { id: "overload-rider", role: "rider" });
  const search = () =>
    fetch(`${base}/v1/drivers/search?lat=10.7769&lng=106.7009`, { headers: { authorization: `Bearer ${token}` } }).then(async (res) => ({
      status: res.status,
      retryAfter: res.headers.get("retry-after"),
      body: (await res.json()) as unknown,
      at: performance.now(),
    }));

  beforeAll(async () => {
    const redis = new URL(TEST_ENV.REDIS_URL);
    proxy = await TcpProxy.start({ host: redis.hostname, port: Number(redis.port) });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    fn = startBundle(bundlePath("functions", "search-drivers"), {
      ...TEST_ENV,
      PORT: String(port),
      SERVICE_NAME: "search-drivers",
      REDIS_URL: `redis://127.0.0.1:${proxy.port}${redis.pathname}`,
      OVERLOAD_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
      OVERLOAD_MAX_WAIT_MS: String(MAX_WAIT_MS),
      // Long enough that the requests held by the silent Redis are still in flight when the others arrive.
      DEPENDENCY_TIMEOUT_MS: "10000",
    });
    await waitUntilReady(port);
  });

  afterAll(async () => {
    proxy?.resume();
    await fn?.stop();
    await proxy?.cut();
  });

  it("answers the requests past the limit 503 overloaded with Retry-After at once, its probes 200, and takes requests again once they finish", async () => {
    proxy.stall();
    const started = performance.now();
    const held = Array.from({ length: MAX_IN_FLIGHT }, () => search());
    // The held requests are in the function, waiting on Redis, before the rest are sent.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const refused = await Promise.all(Array.from({ length: 8 }, () => search()));

    for (const answer of refused) {
      expect(answer).toMatchObject({ status: 503, retryAfter: "1", body: { error: { code: "overloaded", details: [] } } });
      expect(typeof (answer.body as { error: { message: unknown } }).error.message).toBe("string");
    }
    // Refused without waiting for the Redis the held requests wait on.
    expect(Math.max(...refused.map((a) => a.at)) - started).toBeLessThan(3_000);
    expect((await fetch(`${base}/health/liveness`)).status).toBe(200);
    // A refused request with a small body keeps its connection, so a busy client does not pay a new one per refusal.
    const posted = await new Promise<{ status?: number; connection?: string }>((resolve, reject) => {
      const body = JSON.stringify({ lat: 10.7769, lng: 106.7009 });
      const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
      const req = request(`${base}/v1/drivers/me/location`, { method: "POST", headers }, (res) => {
        res.resume();
        resolve({ status: res.statusCode, connection: res.headers.connection });
      });
      req.on("error", reject);
      // The body a moment after the headers, as from a busy client: the refusal is decided before it has arrived.
      req.flushHeaders();
      setTimeout(() => req.end(body), 5);
    });
    expect(posted).toEqual({ status: 503, connection: "keep-alive" });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/uitgo_requests_shed_total\{reason="in_flight"\} 9/);

    proxy.resume();
    for (const answer of await Promise.all(held)) expect(answer.status).toBe(200);
    expect((await search()).status).toBe(200);
  });

  it("answers 503 overloaded at once while its oldest request in flight has waited past the limit", async () => {
    proxy.stall();
    const held = search();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Under the limit of requests in flight, and the oldest has not waited long: let in, and held too.
    const alsoHeld = search();
    await new Promise((resolve) => setTimeout(resolve, MAX_WAIT_MS));
    const sent = performance.now();
    const refused = await Promise.all([search(), search()]);
    for (const answer of refused) expect(answer).toMatchObject({ status: 503, retryAfter: "1", body: { error: { code: "overloaded" } } });
    expect(Math.max(...refused.map((a) => a.at)) - sent).toBeLessThan(1_000);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/uitgo_requests_shed_total\{reason="oldest_waiting"\} 2/);

    proxy.resume();
    expect((await held).status).toBe(200);
    expect((await alsoHeld).status).toBe(200);
    expect((await search()).status).toBe(200);
  });
});

describe("an event loop running late", () => {
  const app = new Hono()
    .use(shedOverload({ maxInFlight: 0, maxWaitMs: 0, maxLagMs: 150, retryAfterSeconds: 2 }))
    .get("/work", (c) => c.text("done"))
    .post("/", (c) => c.text("delivered"))
    .get("/health/liveness", (c) => c.text("alive"));

  const holdLoop = async (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // the loop is held, as by a backlog of CPU-bound requests
    }
    // The sampler's timer is overdue and runs before this one.
    await new Promise((resolve) => setTimeout(resolve, 0));
  };

  it("refuses requests while the loop keeps running late, not for one pause, never probes or CloudEvents, and takes requests again once it keeps time", async () => {
    // Let the lateness sampler start and settle.
    await waitFor(async () => (await app.request("/work")).status === 200, 5_000, "a request through before the stall");
    await holdLoop(400);
    expect((await app.request("/work")).status).toBe(200);

    for (let i = 0; i < 4; i++) await holdLoop(250);
    const late = await app.request("/work");
    expect(late.status).toBe(503);
    expect(late.headers.get("retry-after")).toBe("2");
    expect(await late.json()).toMatchObject({ error: { code: "overloaded", details: [] } });
    expect((await app.request("/health/liveness")).status).toBe(200);
    // A delivery from the JetStream source is paced by the source, and goes through.
    expect((await app.request("/", { method: "POST", headers: { [HEADERS.specversion]: SPEC_VERSION } })).status).toBe(200);
    expect((await app.request("/", { method: "POST", headers: { "content-type": BATCH_CONTENT_TYPE } })).status).toBe(200);
    // Not on the API's paths, where any client could send the header.
    expect((await app.request("/work", { headers: { [HEADERS.specversion]: SPEC_VERSION } })).status).toBe(503);

    await waitFor(async () => (await app.request("/work")).status === 200, 5_000, "a request through once the loop keeps time");
  });

  it("samples only while requests come: idle, it stops waking for the sampler, and the next request starts it again", async () => {
    expect((await app.request("/work")).status).toBe(200);
    // A second of keeping time without a request: the sampler stops.
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    // So a loop held now, with no request read, is not measured...
    for (let i = 0; i < 4; i++) await holdLoop(250);
    expect((await app.request("/work")).status).toBe(200);
    // ...while one held after a request is.
    for (let i = 0; i < 4; i++) await holdLoop(250);
    expect((await app.request("/work")).status).toBe(503);
    await waitFor(async () => (await app.request("/work")).status === 200, 5_000, "a request through once the loop keeps time");
  });
});

describe("the default limits", () => {
  it("let through every request Knative's queue-proxy lets into a pod, and a burst of bookings", () => {
    for (const [name, profile] of Object.entries(PROFILES)) {
      expect(loadOverloadLimits({ K_SERVICE: name }).maxInFlight, name).toBeGreaterThanOrEqual(profile.containerConcurrency);
    }
    // Above a burst the product takes at once (tests/booking.e2e.test.ts books 300).
    expect(loadOverloadLimits({ K_SERVICE: "create-trip" }).maxInFlight).toBeGreaterThan(300);
    expect(loadOverloadLimits({ OVERLOAD_MAX_IN_FLIGHT: "64" }).maxInFlight).toBe(64);
  });
});

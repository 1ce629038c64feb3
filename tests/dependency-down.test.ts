// A dependency that goes away: the function answers 503 with Retry-After at once, writes nothing,
// reports not ready, and recovers by itself when the dependency is back. One that goes silent (connections
// open, nothing answered) gets the same 503 once its timeout has passed, never a request held indefinitely.
// No function may die of it: each test fails the moment one does, naming it and showing its last log lines.
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { bundlePath } from "../esbuild.config";
import { bearer } from "./support/auth";
import { HCMC, offset, tripRequest } from "../harness/places";
import { ProcessWatch, testLogDir } from "./support/process-watch";
import { freePort, startBundle, waitFor, waitUntilReady, type BundleProcess } from "../harness/processes";
import { resetState, tripCount } from "../harness/state";
import { TcpProxy } from "../harness/tcp-proxy";
import { TEST_ENV } from "./support/test-env";

const running: BundleProcess[] = [];
const proxies: TcpProxy[] = [];
let watch = new ProcessWatch();

beforeEach(() => {
  watch = new ProcessWatch();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(proxies.splice(0).map((p) => p.cut()));
  watch.check();
});
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
});
beforeEach(resetState);

async function proxy(port: number): Promise<TcpProxy> {
  const relay = await TcpProxy.start({ host: "127.0.0.1", port });
  proxies.push(relay);
  return relay;
}

// These tests book as one rider again and again to watch a store go and come back, more often than a rider may;
// the limits per rider are tested in tests/client-limits.test.ts.
const NO_RIDER_LIMITS = { MAX_ACTIVE_TRIPS_PER_RIDER: "0", BOOKING_RATE_LIMIT: "0" };

async function startFunction(name: string, env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const logFile = join(testLogDir(), `${name}.log`);
  running.push(
    startBundle(bundlePath("functions", name), { PORT: String(port), SERVICE_NAME: name, ...NO_RIDER_LIMITS, ...env }, { watch, logFile }),
  );
  await watch.guard(waitUntilReady(port));
  return `http://127.0.0.1:${port}`;
}

async function expect503(response: Response, dependency: string): Promise<void> {
  expect(response.status).toBe(503);
  expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
  expect(await response.json()).toEqual({
    error: { code: "service_unavailable", message: `${dependency} is unavailable, retry shortly`, details: [] },
  });
}

function book(url: string) {
  return fetch(`${url}/v1/trips`, {
    method: "POST",
    headers: { ...bearer("rider", "rider-1"), "content-type": "application/json" },
    body: JSON.stringify(tripRequest(HCMC)),
  });
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

describe("Redis down", () => {
  it("search-drivers and update-location answer 503 at once, then recover", async () => {
    const redis = await proxy(6379);
    const env = { REDIS_URL: TEST_ENV.REDIS_URL.replace(":6379/", `:${redis.port}/`) };
    const search = await startFunction("search-drivers", env);
    const location = await startFunction("update-location", env);
    const post = () =>
      fetch(`${location}/v1/drivers/me/location`, {
        method: "POST",
        headers: { ...bearer("driver", "d1"), "content-type": "application/json" },
        body: JSON.stringify(offset(HCMC, 100, 0)),
      });
    const find = () => fetch(`${search}/v1/drivers/search?lat=${HCMC.lat}&lng=${HCMC.lng}`, { headers: bearer("rider", "r1") });
    expect((await post()).status).toBe(202);

    await redis.cut();
    const down = await timed(find);
    await expect503(down.value, "redis");
    expect(down.ms).toBeLessThan(1000);
    await expect503(await post(), "redis");
    expect((await fetch(`${search}/health/readiness`)).status).toBe(503);
    expect((await fetch(`${search}/health/liveness`)).status).toBe(200);

    await redis.open();
    // Each process reconnects on its own schedule; both must get there without help.
    await waitFor(async () => (await find()).status === 200, 10_000, "search to recover");
    await waitFor(async () => (await post()).status === 202, 10_000, "update-location to recover");
    const { items } = (await (await find()).json()) as { items: { id: string }[] };
    expect(items.map((d) => d.id)).toEqual(["d1"]);
  });
});

describe("PostgreSQL down", () => {
  it("create-trip and get-trip answer 503 and write nothing, then recover", async () => {
    const postgres = await proxy(5432);
    const throughProxy = (url: string) => url.replace(":5432/", `:${postgres.port}/`);
    const env = { DATABASE_URL_VN: throughProxy(TEST_ENV.DATABASE_URL_VN), DATABASE_URL_TH: throughProxy(TEST_ENV.DATABASE_URL_TH) };
    const create = await startFunction("create-trip", env);
    const get = await startFunction("get-trip", env);
    const booked = (await (await book(create)).json()) as { id: string };
    const read = () => fetch(`${get}/v1/trips/${booked.id}`, { headers: bearer("rider", "rider-1") });

    await postgres.cut();
    const down = await timed(() => book(create));
    await expect503(down.value, "postgres");
    expect(down.ms).toBeLessThan(3000);
    await expect503(await read(), "postgres");
    expect((await fetch(`${create}/health/readiness`)).status).toBe(503);
    expect(await tripCount()).toBe(1);

    await postgres.open();
    await waitFor(async () => (await book(create)).status === 201, 10_000, "create-trip to recover");
    await waitFor(async () => (await read()).status === 200, 10_000, "get-trip to recover");
  });
});

describe("PostgreSQL hanging up right after a handshake", () => {
  // The moment that used to end the process: a new connection is lost after PostgreSQL's handshake and before its
  // first answer, and the reconnect is refused (see connectPostgres).
  it("create-trip answers 503 and stays up, then recovers", async () => {
    const postgres = await proxy(5432);
    const throughProxy = (url: string) => url.replace(":5432/", `:${postgres.port}/`);
    const create = await startFunction("create-trip", {
      DATABASE_URL_VN: throughProxy(TEST_ENV.DATABASE_URL_VN),
      DATABASE_URL_TH: throughProxy(TEST_ENV.DATABASE_URL_TH),
    });
    expect((await book(create)).status).toBe(201);

    for (let round = 0; round < 3; round++) {
      // Every pooled connection dropped; the next one is let through its handshake and cut at its first query.
      await postgres.cut();
      await postgres.open();
      postgres.hangUpAt(2);
      // A booking may first meet a pooled connection the pool has not yet seen closed, and be answered 503 without a
      // new connection (seen once in CI, the proxy still armed). Each is a 503; booking goes on until one has met the
      // hang-up, so every round reaches that moment.
      const hungUp = postgres.hangUps;
      for (let attempt = 0; postgres.hangUps === hungUp; attempt++) {
        expect(attempt, "a booking reached the hang-up").toBeLessThan(5);
        await expect503(await watch.guard(book(create)), "postgres");
      }
      await postgres.open();
      // A process that was going to die of it has done so by now.
      await watch.guard(new Promise((resolve) => setTimeout(resolve, 300)));
    }

    await watch.guard(waitFor(async () => (await book(create)).status === 201, 5_000, "create-trip to recover"));
    expect(await tripCount()).toBeGreaterThanOrEqual(2);
  });
});

describe("PostgreSQL silent", () => {
  it("create-trip and get-trip answer 503 by their deadline instead of hanging, then recover", async () => {
    const postgres = await proxy(5432);
    const throughProxy = (url: string) => url.replace(":5432/", `:${postgres.port}/`);
    // A 500 ms dependency timeout: the server's statement_timeout is 1 s and the function's deadline 1.5 s.
    const env = {
      DATABASE_URL_VN: throughProxy(TEST_ENV.DATABASE_URL_VN),
      DATABASE_URL_TH: throughProxy(TEST_ENV.DATABASE_URL_TH),
      DEPENDENCY_TIMEOUT_MS: "500",
    };
    const create = await startFunction("create-trip", env);
    const get = await startFunction("get-trip", env);
    const booked = (await (await book(create)).json()) as { id: string };
    const read = () => fetch(`${get}/v1/trips/${booked.id}`, { headers: bearer("rider", "rider-1") });
    expect((await read()).status).toBe(200);

    postgres.stall();
    const [booking, reading] = await Promise.all([timed(() => book(create)), timed(read)]);
    for (const { value, ms } of [booking, reading]) {
      await expect503(value, "postgres");
      expect(ms).toBeGreaterThanOrEqual(1_400);
      expect(ms).toBeLessThan(3_000);
    }
    expect((await fetch(`${get}/health/readiness`)).status).toBe(503);
    expect(await tripCount()).toBe(1);

    // What was held back now reaches the server: the refused booking's insert may land, unannounced (see README, Known limits).
    postgres.resume();
    await waitFor(async () => (await book(create)).status === 201, 10_000, "create-trip to recover");
    await waitFor(async () => (await read()).status === 200, 10_000, "get-trip to recover");
  });
});

describe("Redis silent", () => {
  it("search-drivers answers 503 by its timeout instead of hanging, then recovers", async () => {
    const redis = await proxy(6379);
    const search = await startFunction("search-drivers", {
      REDIS_URL: TEST_ENV.REDIS_URL.replace(":6379/", `:${redis.port}/`),
      DEPENDENCY_TIMEOUT_MS: "500",
    });
    const find = () => fetch(`${search}/v1/drivers/search?lat=${HCMC.lat}&lng=${HCMC.lng}`, { headers: bearer("rider", "r1") });
    expect((await find()).status).toBe(200);

    redis.stall();
    const down = await timed(find);
    await expect503(down.value, "redis");
    expect(down.ms).toBeLessThan(2_000);

    redis.resume();
    await waitFor(async () => (await find()).status === 200, 10_000, "search to recover");
  });
});

describe("NATS silent", () => {
  it("create-trip answers 503 by its timeout and undoes the booking, then recovers", async () => {
    const nats = await proxy(Number(new URL(TEST_ENV.NATS_URL).port));
    const create = await startFunction("create-trip", { NATS_URL: `nats://127.0.0.1:${nats.port}`, DEPENDENCY_TIMEOUT_MS: "500" });
    expect((await book(create)).status).toBe(201);

    nats.stall();
    const down = await timed(() => book(create));
    await expect503(down.value, "nats");
    expect(down.ms).toBeLessThan(2_000);
    expect(await tripCount()).toBe(1);

    nats.resume();
    await waitFor(async () => (await book(create)).status === 201, 15_000, "create-trip to recover");
  });
});

describe("NATS down", () => {
  it("create-trip answers 503 and leaves no trip behind, then recovers", async () => {
    const nats = await proxy(Number(new URL(TEST_ENV.NATS_URL).port));
    const create = await startFunction("create-trip", { NATS_URL: `nats://127.0.0.1:${nats.port}` });
    expect((await book(create)).status).toBe(201);

    await nats.cut();
    const down = await timed(() => book(create));
    await expect503(down.value, "nats");
    expect(down.ms).toBeLessThan(3000);
    expect(await tripCount()).toBe(1);
    await waitFor(async () => (await fetch(`${create}/health/readiness`)).status === 503, 5000, "readiness to drop");

    await nats.open();
    await waitFor(async () => (await book(create)).status === 201, 15_000, "create-trip to recover");
  });
});

// One client cannot take what belongs to everyone: a rider has at most MAX_ACTIVE_TRIPS_PER_RIDER trips under way,
// bookings per rider and location updates per driver are rate-limited (429, Retry-After, RateLimit headers), and
// the limiter lets requests through when its Redis does not answer. Against the real stack, with the defaults.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { bundlePath } from "../esbuild.config";
import { startStack, type Stack } from "../local/stack";
import { loadConfig } from "../shared/config";
import { newTripId } from "../shared/trips/trip-id";
import { ActiveTripLimit, TripStore, type NewTrip } from "../shared/trips/trip-store";
import { bearer } from "./support/auth";
import { expectError } from "./support/http";
import { HCMC, tripRequest } from "../harness/places";
import { freePort, startBundle, waitUntilReady } from "../harness/processes";
import { resetState } from "../harness/state";
import { TcpProxy } from "../harness/tcp-proxy";
import { TEST_ENV, TEST_PORT_OFFSET } from "./support/test-env";

const config = loadConfig();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ basePort: 27280 + TEST_PORT_OFFSET, build: false, logDir: ".local/test-logs/client-limits" });
});
afterAll(async () => {
  await stack?.stop();
});
beforeEach(resetState);

function book(riderId: string, headers: Record<string, string> = {}, url = stack.gatewayUrl) {
  return fetch(`${url}/v1/trips`, {
    method: "POST",
    headers: { ...bearer("rider", riderId), "content-type": "application/json", ...headers },
    body: JSON.stringify(tripRequest(HCMC)),
  });
}

function cancel(tripId: string, riderId: string) {
  return fetch(`${stack.gatewayUrl}/v1/trips/${tripId}/cancel`, { method: "POST", headers: bearer("rider", riderId) });
}

function report(driverId: string) {
  return fetch(`${stack.gatewayUrl}/v1/drivers/me/location`, {
    method: "POST",
    headers: { ...bearer("driver", driverId), "content-type": "application/json" },
    body: JSON.stringify({ ...HCMC, status: "available" }),
  });
}

describe("active trips per rider", () => {
  it("one at a time by default: a second booking is 409 until the first ends, and a retry of the first is still its replay", async () => {
    const first = await book("rider-a", { "idempotency-key": "first" });
    expect(first.status).toBe(201);
    const trip = (await first.json()) as { id: string };

    const second = await book("rider-a");
    const error = await expectError(second, 409, "too_many_active_trips");
    expect(error.details).toEqual([{ field: "riderId", issue: expect.stringContaining("1 active trip") }]);

    const retry = await book("rider-a", { "idempotency-key": "first" });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(((await retry.json()) as { id: string }).id).toBe(trip.id);

    // Another rider is not held back by this one.
    expect((await book("rider-b")).status).toBe(201);

    expect((await cancel(trip.id, "rider-a")).status).toBe(200);
    expect((await book("rider-a")).status).toBe(201);
  });

  it("holds when a rider's bookings arrive all at once: exactly one of them is booked", async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => book("rider-burst")));
    const statuses = answers.map((answer) => answer.status).sort();
    // The booking rate lets 10 through at once; of those, one is booked.
    expect(statuses).toEqual([201, ...Array.from({ length: 9 }, () => 409), ...Array.from({ length: 10 }, () => 429)]);
  });

  it("is atomic across the batches of two stores (two create-trip instances) for any N", async () => {
    const stores = [TripStore.connect(config), TripStore.connect(config)];
    try {
      const limit = 3;
      const attempt = (store: TripStore) =>
        store
          .create("vn", { ...(tripRequest(HCMC) as NewTrip), id: newTripId("vn"), riderId: "rider-many", maxActiveTrips: limit })
          .then(() => "booked" as const)
          .catch((err: unknown) => {
            if (err instanceof ActiveTripLimit) return "refused" as const;
            throw err;
          });
      const outcomes = await Promise.all(Array.from({ length: 24 }, (_, i) => attempt(stores[i % 2]!)));
      expect(outcomes.filter((o) => o === "booked")).toHaveLength(limit);
      // Without a limit (the store used directly, as matching's tests do), a rider's trips are not counted.
      const unlimited = await stores[0]!.create("vn", { ...(tripRequest(HCMC) as NewTrip), id: newTripId("vn"), riderId: "rider-many" });
      expect(unlimited.replayed).toBe(false);
    } finally {
      await Promise.all(stores.flatMap((store) => store.handles().map((handle) => handle.close())));
    }
  });
});

describe("booking rate per rider", () => {
  it("10 a minute: the 11th is 429 with Retry-After, RateLimit and RateLimit-Policy, and every answer says what is left", async () => {
    for (let i = 0; i < 10; i++) {
      const answer = await book("rider-rate");
      expect(answer.status, `booking ${i + 1}`).toBe(201);
      expect(answer.headers.get("ratelimit-policy")).toBe('"bookings";q=10;w=60');
      expect(answer.headers.get("ratelimit")).toMatch(new RegExp(`^"bookings";r=${9 - i};t=\\d+$`));
      const { id } = (await answer.json()) as { id: string };
      expect((await cancel(id, "rider-rate")).status).toBe(200);
    }
    const refused = await book("rider-rate");
    const error = await expectError(refused, 429, "rate_limited");
    expect(error.details).toEqual([{ field: "bookings", issue: expect.stringMatching(/^retry after \d+ s$/) }]);
    const retryAfter = Number(refused.headers.get("retry-after"));
    // One booking comes back every 6 s (60 s / 10).
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(6);
    expect(refused.headers.get("ratelimit")).toMatch(/^"bookings";r=0;t=\d+$/);
    expect(refused.headers.get("ratelimit-policy")).toBe('"bookings";q=10;w=60');
    // Refused before anything was stored.
    expect((await book("rider-other")).status).toBe(201);
  });
});

describe("location updates per driver", () => {
  it("120 at once, then one every 0.5 s: past that 429, another driver goes on", async () => {
    const started = performance.now();
    let accepted = 0;
    let refused: Response;
    for (;;) {
      const answer = await report("driver-chatty");
      if (answer.status !== 202) {
        refused = answer;
        break;
      }
      accepted++;
    }
    // 120 at once, and one more for every 500 ms the loop took.
    expect(accepted).toBeGreaterThanOrEqual(120);
    expect(accepted).toBeLessThanOrEqual(121 + Math.floor((performance.now() - started) / 500));
    await expectError(refused, 429, "rate_limited");
    expect(refused.headers.get("ratelimit-policy")).toBe('"location-updates";q=120;w=60');
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await report("driver-quiet")).status).toBe(202);
  });

  it("holds when a driver's updates arrive all at once, decided together in one script: the allowance and no more", async () => {
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 160 }, () => report("driver-burst")));

    const accepted = answers.filter((answer) => answer.status === 202).length;
    expect(accepted).toBeGreaterThanOrEqual(120);
    expect(accepted).toBeLessThanOrEqual(121 + Math.floor((performance.now() - started) / 500));
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(160 - accepted);
  });
});

describe("the limiter's Redis down", () => {
  async function limiterMetric(url: string): Promise<number> {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith('uitgo_rate_limiter_unavailable_total{limit="bookings"}'));
    return line ? Number(line.split(" ")[1]) : 0;
  }

  it("refusing or silent, booking goes on unlimited, at once, and the metric counts it; readiness stays up", async () => {
    const redis = await TcpProxy.start({ host: "127.0.0.1", port: 6379 });
    const port = await freePort();
    const fn = startBundle(bundlePath("functions", "create-trip"), {
      PORT: String(port),
      SERVICE_NAME: "create-trip",
      REDIS_URL: TEST_ENV.REDIS_URL.replace(":6379/", `:${redis.port}/`),
      BOOKING_RATE_LIMIT: "1",
      MAX_ACTIVE_TRIPS_PER_RIDER: "0",
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntilReady(port);
      expect((await book("rider-open", {}, url)).status).toBe(201);
      expect((await book("rider-open", {}, url)).status).toBe(429);

      for (const fault of ["cut", "stall"] as const) {
        if (fault === "cut") await redis.cut();
        else {
          await redis.open();
          redis.stall();
        }
        const before = await limiterMetric(url);
        const started = performance.now();
        const answers = await Promise.all(Array.from({ length: 5 }, () => book("rider-open", {}, url)));
        expect(
          answers.map((a) => a.status),
          fault,
        ).toEqual([201, 201, 201, 201, 201]);
        expect(answers[0]!.headers.get("ratelimit")).toBeNull();
        expect(performance.now() - started, fault).toBeLessThan(1_000);
        expect(await limiterMetric(url), fault).toBe(before + 5);
        expect((await fetch(`${url}/health/readiness`)).status, fault).toBe(200);
      }
    } finally {
      await fn.stop();
      redis.resume();
      await redis.cut();
    }
  });
});

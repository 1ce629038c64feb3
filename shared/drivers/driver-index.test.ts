// The geo-index against the real Redis: nearest-first correctness in a dense city, its speed against
// Redis's own fixed-radius sort measured in the same run, freshness, and atomic claims.
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../config";
import { HCMC, offset, randomPointNear, referenceMeters, seededRandom } from "../../harness/places";
import { resetState } from "../../harness/state";
import type { LatLng } from "../geo";
import { connectRedis } from "../clients/redis";
import { DriverIndex, MAX_CANDIDATES } from "./driver-index";
import { sweepSilentDrivers } from "./driver-sweeper";

const config = loadConfig();
let redis: Redis;
let index: DriverIndex;

beforeAll(() => {
  redis = new Redis(config.redisUrl);
  index = new DriverIndex(redis, 30_000);
});
afterAll(() => redis.quit());
beforeEach(resetState);

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

// Each update is made as at its own time, so that seeding silent drivers does not itself prune them.
async function addDrivers(points: LatLng[], prefix = "d", recordedAt = Date.now()): Promise<void> {
  for (let i = 0; i < points.length; i += 5_000) {
    await Promise.all(
      points
        .slice(i, i + 5_000)
        .map((p, j) => index.update("vn", { driverId: `${prefix}${i + j}`, ...p, status: "available", recordedAt }, recordedAt)),
    );
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

interface Timing {
  perSecond: number;
  p50: number;
}

/** `first` 50 times and `second` 5 times per round, after a warm-up of each: both rates and medians. */
async function interleaved(
  first: () => Promise<unknown>,
  second: () => Promise<unknown>,
  rounds: number,
): Promise<{ first: Timing; second: Timing }> {
  for (let i = 0; i < 50; i++) await first();
  for (let i = 0; i < 5; i++) await second();
  const samples = { first: [] as number[], second: [] as number[] };
  const run = async (search: () => Promise<unknown>, count: number, into: number[]) => {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await search();
      into.push(performance.now() - t);
    }
  };
  for (let r = 0; r < rounds; r++) {
    await run(first, 50, samples.first);
    await run(second, 5, samples.second);
  }
  const timing = (latencies: number[]): Timing => {
    const total = latencies.reduce((sum, ms) => sum + ms, 0);
    return {
      perSecond: latencies.length / (total / 1000),
      p50: percentile(
        [...latencies].sort((a, b) => a - b),
        0.5,
      ),
    };
  };
  return { first: timing(samples.first), second: timing(samples.second) };
}

describe("search in a dense city", () => {
  const random = seededRandom(42);
  // 50,000 drivers spread around Ho Chi Minh City's centre (σ = 5 km): thousands within 3 km of it.
  const drivers = Array.from({ length: 50_000 }, () => offset(HCMC, gaussian(random) * 5000, gaussian(random) * 5000));

  it("returns the 10 nearest drivers, in order, within a few milliseconds, far faster than a fixed-radius sort", async () => {
    await addDrivers(drivers);
    const within3km = drivers.filter((d) => referenceMeters(HCMC, d) <= 3000).length;
    expect(within3km).toBeGreaterThan(5000);

    for (const pickup of [HCMC, offset(HCMC, 800, -1200), offset(HCMC, -2500, 400)]) {
      const found = await index.search("vn", { ...pickup, radiusMeters: 3000, limit: 10 });
      const expected = drivers
        .map((d, i) => ({ id: `d${i}`, distance: referenceMeters(pickup, d) }))
        .sort((a, b) => a.distance - b.distance)
        .slice(0, 10);
      expect(found).toHaveLength(10);
      // Redis keeps 52-bit geohashes (about 0.6 m), so a tie within a metre may swap places.
      found.forEach((driver, i) => expect(Math.abs(driver.location.distanceMeters - expected[i]!.distance)).toBeLessThan(1));
      expect(found.map((d) => d.id).filter((id) => expected.some((e) => e.id === id)).length).toBeGreaterThanOrEqual(9);
    }

    // Measured in alternating rounds, so that the machine's other work weighs on both alike.
    const rounds = await interleaved(
      () => index.search("vn", { ...HCMC, radiusMeters: 3000, limit: 10 }),
      () => redis.geosearch("drivers:{vn}:geo", "FROMLONLAT", HCMC.lng, HCMC.lat, "BYRADIUS", 3000, "m", "ASC", "COUNT", 10),
      8,
    );
    const ours = rounds.first;
    const fixedRadius = rounds.second;
    console.log(
      `dense search (${within3km} drivers within 3 km): ${Math.round(ours.perSecond)}/s p50 ${ours.p50.toFixed(2)} ms; ` +
        `fixed-radius GEOSEARCH ${Math.round(fixedRadius.perSecond)}/s p50 ${fixedRadius.p50.toFixed(2)} ms; ` +
        `ratio ${(ours.perSecond / fixedRadius.perSecond).toFixed(1)}x`,
    );
    expect(ours.p50).toBeLessThan(5);
    expect(ours.perSecond / fixedRadius.perSecond).toBeGreaterThan(5);
  });
});

describe("search", () => {
  it("matches a haversine reference on random data, nearest first", async () => {
    const random = seededRandom(7);
    const points = Array.from({ length: 300 }, () => randomPointNear(HCMC, 4000, random));
    await addDrivers(points);
    const found = await index.search("vn", { ...HCMC, radiusMeters: 3000, limit: 50 });
    const expected = points
      .map((p, i) => ({ id: `d${i}`, distance: referenceMeters(HCMC, p) }))
      .filter((d) => d.distance <= 3000)
      .sort((a, b) => a.distance - b.distance)
      .slice(0, 50);
    expect(found.map((d) => d.id)).toEqual(expected.map((d) => d.id));
    for (const driver of found) {
      const i = Number(driver.id.slice(1));
      expect(driver.location.lat).toBe(points[i]!.lat);
      expect(Math.abs(driver.location.distanceMeters - referenceMeters(HCMC, points[i]!))).toBeLessThan(0.1);
    }
  });

  it("leaves out drivers who are offline, on a trip, or silent for more than 30 s", async () => {
    const now = Date.now();
    await index.update("vn", { driverId: "fresh", ...offset(HCMC, 100, 0), status: "available", recordedAt: now });
    await index.update("vn", { driverId: "stale", ...offset(HCMC, 50, 0), status: "available", recordedAt: now - 31_000 });
    await index.update("vn", { driverId: "offline", ...offset(HCMC, 60, 0), status: "offline", recordedAt: now });
    await index.update("vn", { driverId: "busy", ...offset(HCMC, 10, 0), status: "available", recordedAt: now });
    expect(await index.claim("vn", { tripId: "vn_trip-1", ...HCMC, radiusMeters: 50 })).toBe("busy");

    const found = await index.search("vn", { ...HCMC, radiusMeters: 3000, limit: 10 });
    expect(found.map((d) => d.id)).toEqual(["fresh"]);
  });

  it("ignores an update older than the last one", async () => {
    const now = Date.now();
    await index.update("vn", { driverId: "d", ...offset(HCMC, 100, 0), status: "available", recordedAt: now });
    await index.update("vn", { driverId: "d", ...offset(HCMC, 2000, 0), status: "available", recordedAt: now - 5000 });
    const [driver] = await index.search("vn", { ...HCMC, radiusMeters: 3000, limit: 10 });
    expect(driver?.location.distanceMeters).toBeLessThan(101);
  });
});

describe("claim", () => {
  it("gives each driver to one trip only when 300 trips claim at once around one point", async () => {
    const random = seededRandom(3);
    await addDrivers(Array.from({ length: 100 }, () => randomPointNear(HCMC, 1500, random)));
    const claims = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        index.claim("vn", { tripId: `vn_t${i}`, ...randomPointNear(HCMC, 300, random), radiusMeters: 5000 }),
      ),
    );
    const claimed = claims.filter((d): d is string => d !== undefined);
    expect(claimed).toHaveLength(100);
    expect(new Set(claimed).size).toBe(100);
    expect(await index.search("vn", { ...HCMC, radiusMeters: 10_000, limit: 50 })).toEqual([]);
  });

  it("returns the same driver when the same trip claims again, and skips excluded drivers", async () => {
    await index.update("vn", { driverId: "near", ...offset(HCMC, 100, 0), status: "available", recordedAt: Date.now() });
    await index.update("vn", { driverId: "far", ...offset(HCMC, 900, 0), status: "available", recordedAt: Date.now() });
    const first = await index.claim("vn", { tripId: "vn_a", ...HCMC, radiusMeters: 5000 });
    const again = await index.claim("vn", { tripId: "vn_a", ...HCMC, radiusMeters: 5000 });
    expect(first).toBe("near");
    expect(again).toBe("near");
    expect(await index.claim("vn", { tripId: "vn_b", ...HCMC, radiusMeters: 5000, excludedDriverIds: ["far"] })).toBeUndefined();
  });

  it("release puts the driver back where they last reported", async () => {
    await index.update("vn", { driverId: "d", ...offset(HCMC, 100, 0), status: "available", recordedAt: Date.now() });
    const driver = await index.claim("vn", { tripId: "vn_a", ...HCMC, radiusMeters: 5000 });
    await index.release("vn", "vn_a", driver!, { available: true });
    const found = await index.search("vn", { ...HCMC, radiusMeters: 3000, limit: 10 });
    expect(found.map((d) => d.id)).toEqual(["d"]);
    expect(await index.claim("vn", { tripId: "vn_b", ...HCMC, radiusMeters: 5000 })).toBe("d");
  });

  it("a driver on a trip who reports available stays out of search", async () => {
    await index.update("vn", { driverId: "d", ...offset(HCMC, 100, 0), status: "available", recordedAt: Date.now() });
    await index.claim("vn", { tripId: "vn_a", ...HCMC, radiusMeters: 5000 });
    await index.update("vn", { driverId: "d", ...offset(HCMC, 120, 0), status: "available", recordedAt: Date.now() + 1 });
    expect(await index.search("vn", { ...HCMC, radiusMeters: 3000, limit: 10 })).toEqual([]);
  });
});

describe("a stale city", () => {
  const STALE = 20_000;
  const random = seededRandom(11);
  // Every silent driver within 3 km of the centre, the fresh ones among them within 1 km: about 2,200 silent
  // drivers are nearer the centre than the farthest fresh one.
  const silentPoints = Array.from({ length: STALE }, () => randomPointNear(HCMC, 3000, random));
  const freshPoints = Array.from({ length: 30 }, () => randomPointNear(HCMC, 1000, random));
  const query = { ...HCMC, radiusMeters: 3000, limit: 10 };
  const sweepOptions = { driverSweepIntervalMs: 0, driverSweepBatch: 500, serviceName: "driver-index-test" };
  const expectedFresh = () =>
    freshPoints
      .map((p, i) => ({ id: `fresh${i}`, distance: referenceMeters(HCMC, p) }))
      .sort((a, b) => a.distance - b.distance)
      .slice(0, 10)
      .map((d) => d.id);

  beforeEach(async () => {
    await addDrivers(freshPoints, "fresh");
    await addDrivers(silentPoints, "silent", Date.now() - 60_000);
    expect(await redis.zcard("drivers:{vn}:geo")).toBe(STALE + freshPoints.length);
  });

  it("a search looks at most at MAX_CANDIDATES entries, answers only fresh drivers, and drops the silent ones it saw", async () => {
    const first = await index.searchReport("vn", query);
    expect(first.examined).toBeLessThanOrEqual(MAX_CANDIDATES);
    expect(first.dropped).toBeGreaterThan(0);
    expect(first.drivers.every((d) => d.id.startsWith("fresh"))).toBe(true);
    expect(await redis.zcard("drivers:{vn}:geo")).toBe(STALE + freshPoints.length - first.dropped);

    // Searches alone clear the way: each drops what it looked at, until the fresh answer is complete.
    let report = first;
    let searches = 1;
    while (report.drivers.length < 10 && searches < 30) {
      report = await index.searchReport("vn", query);
      expect(report.examined).toBeLessThanOrEqual(MAX_CANDIDATES);
      searches++;
    }
    expect(report.drivers.map((d) => d.id)).toEqual(expectedFresh());
    console.log(`stale city: the first search looked at ${first.examined} entries; ${searches} searches gave the full answer`);
  });

  it("a claim looks at most at MAX_CANDIDATES entries and never takes a silent driver", async () => {
    for (let i = 0; i < 30; i++) {
      const driver = await index.claim("vn", { tripId: `vn_t${i}`, ...HCMC, radiusMeters: 3000 });
      if (driver !== undefined) expect(driver).toMatch(/^fresh/);
    }
    // Each claim that found nobody fresh in its budget still dropped what it looked at.
    expect(await redis.zcard("drivers:{vn}:geo")).toBeLessThan(STALE);
  });

  it("the sweep takes every silent driver out, a bounded number per run, and leaves the fresh answer as it was", async () => {
    const sweeper = sweepSilentDrivers(index, sweepOptions);
    const runs: number[] = [];
    for (let taken = -1; taken !== 0;) runs.push((taken = await sweeper.runOnce()));
    // 20 batches of 500 per region per run at most.
    expect(runs).toEqual([10_000, 10_000, 0]);
    expect(await redis.zcard("drivers:{vn}:geo")).toBe(freshPoints.length);
    expect(await redis.zcard("drivers:{vn}:seen")).toBe(freshPoints.length);
    // Their last positions stay: a driver who reports again, or is given back by a trip, is placed from them.
    expect(await redis.hlen("drivers:{vn}:pos")).toBe(STALE + freshPoints.length);

    const report = await index.searchReport("vn", query);
    expect(report.drivers.map((d) => d.id)).toEqual(expectedFresh());
    expect(report).toMatchObject({ dropped: 0 });
    expect(report.examined).toBeLessThanOrEqual(20);

    await index.update("vn", { driverId: "silent0", ...HCMC, status: "available", recordedAt: Date.now() });
    expect((await index.search("vn", { ...query, limit: 1 })).map((d) => d.id)).toEqual(["silent0"]);
  });
});

describe("a ring of silent drivers around a centre searches have cleared", () => {
  it("is narrowed through, never more than MAX_CANDIDATES entries looked up, down to the exact fresh answer", async () => {
    const random = seededRandom(5);
    const ring = Array.from({ length: 5_000 }, () => {
      const r = 500 + random() * 100;
      const theta = random() * 2 * Math.PI;
      return offset(HCMC, r * Math.cos(theta), r * Math.sin(theta));
    });
    const fresh = [
      offset(HCMC, 40, 0),
      offset(HCMC, 0, -90),
      offset(HCMC, -120, 30),
      offset(HCMC, 550, 0),
      offset(HCMC, 0, 580),
      offset(HCMC, 700, 0),
    ];
    await addDrivers(fresh, "fresh");
    await addDrivers(ring, "silent", Date.now() - 60_000);
    const expected = fresh
      .map((p, i) => ({ id: `fresh${i}`, distance: referenceMeters(HCMC, p) }))
      .sort((a, b) => a.distance - b.distance)
      .map((d) => d.id);

    const reports = [];
    for (let i = 0; i < 40; i++) {
      const report = await index.searchReport("vn", { ...HCMC, radiusMeters: 3000, limit: 10 });
      reports.push(report);
      // The three inside the ring are always found, nearest first.
      expect(report.drivers.slice(0, 3).map((d) => d.id)).toEqual(expected.slice(0, 3));
      expect(report.examined).toBeLessThanOrEqual(MAX_CANDIDATES);
      if (report.drivers.length === fresh.length) break;
    }
    expect(reports.at(-1)!.drivers.map((d) => d.id)).toEqual(expected);
    expect(reports.reduce((n, r) => n + r.dropped, 0)).toBe(5_000 - (await redis.zcard("drivers:{vn}:geo")) + fresh.length);
  });
});

describe("the sweep beside claims", () => {
  it("leaves a driver on a trip on it, and one given back after going silent is swept later", async () => {
    const now = Date.now();
    await index.update("vn", { driverId: "busy", ...offset(HCMC, 50, 0), status: "available", recordedAt: now });
    await index.update("vn", { driverId: "idle", ...offset(HCMC, 80, 0), status: "available", recordedAt: now });
    expect(await index.claim("vn", { tripId: "vn_trip", ...HCMC, radiusMeters: 500 })).toBe("busy");

    // A minute later neither has reported: the idle one is swept, the one on the trip stays claimed.
    const later = now + 60_000;
    expect(await index.sweep("vn", 500, later)).toBe(1);
    expect(await redis.hget("drivers:{vn}:busy", "busy")).toBe("vn_trip");
    expect(await redis.hget("drivers:{vn}:claims", "vn_trip")).toBe("busy");
    expect(await index.claim("vn", { tripId: "vn_trip", ...HCMC, radiusMeters: 500 }, later)).toBe("busy");

    // The trip ends: the driver goes back at their last report, too old to be offered; the first search to see it drops it.
    await index.release("vn", "vn_trip", "busy", { available: true });
    expect(await index.search("vn", { ...HCMC, radiusMeters: 500, limit: 10 }, later)).toEqual([]);
    expect(await index.claim("vn", { tripId: "vn_other", ...HCMC, radiusMeters: 500 }, later)).toBeUndefined();
    expect(await index.sweep("vn", 500, later)).toBe(0);
    expect(await redis.zcard("drivers:{vn}:geo")).toBe(0);
    expect(await redis.hexists("drivers:{vn}:busy", "busy")).toBe(0);
  });

  it("keeps sweeping, without failing the process, while Redis does not answer", async () => {
    const unreachable = connectRedis("redis://127.0.0.1:1", 200);
    const sweeper = sweepSilentDrivers(new DriverIndex(unreachable, 30_000), {
      driverSweepIntervalMs: 20,
      driverSweepBatch: 500,
      serviceName: "driver-index-test",
    });
    await expect(sweeper.runOnce()).rejects.toThrow(/redis/i);
    // Several timed runs fail in the meantime; an unhandled rejection would fail this test.
    await new Promise((resolve) => setTimeout(resolve, 150));
    sweeper.stop();
    unreachable.disconnect();
  });
});

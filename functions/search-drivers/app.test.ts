import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../shared/config";
import { type DriverIndex, type NearbyDriver } from "../../shared/drivers/driver-index";
import type { DriverStatus } from "../../shared/drivers/driver";
import { signToken } from "../../shared/tokens";
import type { LatLng } from "../../shared/geo";
import type { Region } from "../../shared/regions";
import { bearer } from "../../tests/support/auth";
import { expectError } from "../../tests/support/http";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { BANGKOK, HCMC, NOWHERE, offset, randomPointNear, referenceMeters, seededRandom } from "../../harness/places";
import { resetState } from "../../harness/state";
import { searchDriversApp } from "./app";
import { connectDependencies } from "./dependencies";
import type { DependencyHandle } from "../../shared/clients/dependency";

const config = loadConfig();
const RIDER = "rider-search-1";

let drivers: DriverIndex;
let fn: TestFunction;

let handles: DependencyHandle[];

beforeAll(async () => {
  const wired = connectDependencies(config);
  ({ drivers, handles } = wired);
  await Promise.all(handles.map((handle) => handle.ping()));
  fn = inProcess(searchDriversApp(wired.deps), handles);
});

afterAll(() => Promise.all(handles.map((handle) => handle.close())));

beforeEach(resetState);

interface SeedOptions {
  recordedAt?: number;
  status?: DriverStatus;
  region?: Region;
}

function seed(driverId: string, at: LatLng, { recordedAt = Date.now(), status = "available", region = "vn" }: SeedOptions = {}) {
  return drivers.update(region, { driverId, lat: at.lat, lng: at.lng, status, recordedAt });
}

function search(query: Record<string, string | number>, headers: Record<string, string> = bearer("rider", RIDER)): Promise<Response> {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  return fn.request(`/v1/drivers/search?${params}`, { headers });
}

async function items(res: Response): Promise<NearbyDriver[]> {
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: NearbyDriver[] }).items;
}

async function ids(res: Response): Promise<string[]> {
  return (await items(res)).map((item) => item.id);
}

/** The point `meters` due north of `from` along its meridian, at exactly that great-circle distance. */
function north(from: LatLng, meters: number): LatLng {
  return { lat: from.lat + (meters / 6_371_008.8) * (180 / Math.PI), lng: from.lng };
}

describe("GET /v1/drivers/search", () => {
  describe("results", () => {
    it("returns the nearest drivers first, with distances matching a haversine reference", async () => {
      const random = seededRandom(20240611);
      const recordedAt = Date.now();
      const positions = new Map<string, LatLng>();
      for (let i = 0; i < 200; i++) positions.set(`driver-${i}`, randomPointNear(HCMC, 2990, random));
      await Promise.all([...positions].map(([id, at]) => seed(id, at, { recordedAt })));

      const found = await items(await search({ lat: HCMC.lat, lng: HCMC.lng, limit: 50 }));

      expect(found).toHaveLength(50);
      const distances = found.map((item) => item.location.distanceMeters);
      expect(distances).toEqual([...distances].sort((a, b) => a - b));
      for (const { id, location } of found) {
        const at = positions.get(id)!;
        expect(location).toEqual({
          lat: at.lat,
          lng: at.lng,
          recordedAt: new Date(recordedAt).toISOString(),
          distanceMeters: expect.any(Number),
        });
        expect(Math.abs(location.distanceMeters - referenceMeters(HCMC, at)), id).toBeLessThanOrEqual(1);
      }
      // They are the 50 nearest: anyone left out is no nearer than the farthest returned (up to Redis's geohash precision).
      const farthest = Math.max(...distances);
      const returned = new Set(found.map((item) => item.id));
      for (const [id, at] of positions) {
        if (!returned.has(id)) expect(referenceMeters(HCMC, at), id).toBeGreaterThan(farthest - 1);
      }
    });

    it("answers exactly {items: [{id, location: {lat, lng, recordedAt, distanceMeters}}]}", async () => {
      const at = offset(HCMC, 300, 400);
      const recordedAt = Date.now() - 2000;
      await seed("driver-shape", at, { recordedAt });

      const res = await search({ lat: HCMC.lat, lng: HCMC.lng });

      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        items: [
          {
            id: "driver-shape",
            location: { lat: at.lat, lng: at.lng, recordedAt: new Date(recordedAt).toISOString(), distanceMeters: expect.any(Number) },
          },
        ],
      });
    });

    it("answers an empty list when no driver is near", async () => {
      await seed("driver-far", offset(HCMC, 8000, 0));

      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng }))).toEqual([]);
    });

    it("defaults to a 3000 m radius", async () => {
      await seed("driver-2900m", offset(HCMC, 2900, 0));
      await seed("driver-3100m", offset(HCMC, 3100, 0));

      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng }))).toEqual(["driver-2900m"]);
      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng, radius: 5000 }))).toEqual(["driver-2900m", "driver-3100m"]);
    });

    it("returns a driver half a metre inside the radius", async () => {
      await seed("driver-edge", north(HCMC, 2999.5));

      const found = await items(await search({ lat: HCMC.lat, lng: HCMC.lng, radius: 3000 }));

      expect(found.map((item) => item.id)).toEqual(["driver-edge"]);
      expect(found[0]!.location.distanceMeters).toBeCloseTo(2999.5, 0);
    });

    it("defaults to 10 drivers and honours a smaller or larger limit", async () => {
      await Promise.all(Array.from({ length: 15 }, (_, i) => seed(`driver-${String(i).padStart(2, "0")}`, offset(HCMC, 100 * (i + 1), 0))));
      const nearest = (n: number) => Array.from({ length: n }, (_, i) => `driver-${String(i).padStart(2, "0")}`);

      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng }))).toEqual(nearest(10));
      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng, limit: 3 }))).toEqual(nearest(3));
      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng, limit: 50, radius: 10_000 }))).toEqual(nearest(15));
    });

    it("returns only drivers who are available, fresh and not on a trip", async () => {
      await seed("driver-on-trip", offset(HCMC, 50, 50));
      expect(await drivers.claim("vn", { tripId: "vn_trip", ...offset(HCMC, 50, 50), radiusMeters: 10 })).toBe("driver-on-trip");

      await seed("driver-available", offset(HCMC, 200, 0));
      await seed("driver-25s-ago", offset(HCMC, 300, 0), { recordedAt: Date.now() - 25_000 });
      await seed("driver-31s-ago", offset(HCMC, 100, 0), { recordedAt: Date.now() - 31_000 });
      await seed("driver-went-offline", offset(HCMC, 150, 0));
      await seed("driver-went-offline", offset(HCMC, 150, 0), { status: "offline" });

      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng }))).toEqual(["driver-available", "driver-25s-ago"]);
    });

    it("stops returning a driver once their last report is more than 30 s old", async () => {
      await seed("driver-aging", offset(HCMC, 100, 0), { recordedAt: Date.now() - 29_800 });
      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng }))).toEqual(["driver-aging"]);

      await new Promise((resolve) => setTimeout(resolve, 300));

      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng }))).toEqual([]);
    });

    it("searches Bangkok drivers from Bangkok, not from Ho Chi Minh City", async () => {
      await seed("driver-bkk", offset(BANGKOK, 500, 0), { region: "th" });
      await seed("driver-hcm", offset(HCMC, 500, 0));

      expect(await ids(await search({ lat: BANGKOK.lat, lng: BANGKOK.lng }))).toEqual(["driver-bkk"]);
      expect(await ids(await search({ lat: HCMC.lat, lng: HCMC.lng }))).toEqual(["driver-hcm"]);
    });
  });

  describe("bad input", () => {
    const at = { lat: HCMC.lat, lng: HCMC.lng };

    it("refuses a query without lat or lng, naming what is missing", async () => {
      const cases: [Record<string, string | number>, string[]][] = [
        [{ lng: at.lng }, ["lat"]],
        [{ lat: at.lat }, ["lng"]],
        [{ lat: "", lng: at.lng }, ["lat"]],
        [{}, ["lat", "lng"]],
      ];
      for (const [query, fields] of cases) {
        const label = JSON.stringify(query);
        const error = await expectError(await search(query), 400, "invalid_request", label);
        expect(error.details, label).toEqual(fields.map((field) => ({ field, issue: "is required" })));
      }
    });

    it("refuses coordinates that are not numbers or out of range", async () => {
      const cases: [string, string | number][] = [
        ["lat", "abc"],
        ["lat", "12abc"],
        ["lat", "NaN"],
        ["lng", "Infinity"],
        ["lng", "0x6a"],
        ["lat", "1e400"],
        ["lat", 91],
        ["lat", -90.5],
        ["lng", -181],
        ["lng", 180.01],
      ];
      for (const [field, value] of cases) {
        const label = `${field}=${value}`;
        const error = await expectError(await search({ ...at, [field]: value }), 400, "invalid_request", label);
        expect(
          error.details.map((d) => d.field),
          label,
        ).toEqual([field]);
      }
    });

    it("refuses a radius above 10000 m or not positive", async () => {
      for (const radius of [10_001, 0, -5, "abc", "3000m"]) {
        const error = await expectError(await search({ ...at, radius }), 400, "invalid_request", `radius=${radius}`);
        expect(error.details.map((d) => d.field)).toEqual(["radius"]);
      }
    });

    it("refuses a limit above 50, below 1 or not a whole number", async () => {
      for (const limit of [51, 0, -1, 2.5, "ten"]) {
        const error = await expectError(await search({ ...at, limit }), 400, "invalid_request", `limit=${limit}`);
        expect(error.details.map((d) => d.field)).toEqual(["limit"]);
      }
    });

    it("accepts the largest radius and limit", async () => {
      expect(await ids(await search({ ...at, radius: 10_000, limit: 50 }))).toEqual([]);
    });

    it("refuses a point outside every service area with 422 outside_service_area", async () => {
      await expectError(await search({ lat: NOWHERE.lat, lng: NOWHERE.lng }), 422, "outside_service_area");
    });
  });

  describe("authentication", () => {
    it("answers 401 unauthorized without a valid token", async () => {
      const cases: [string, Record<string, string>][] = [
        ["no token", {}],
        ["a token signed with another secret", { authorization: `Bearer ${signToken("not-the-secret", { id: RIDER, role: "rider" })}` }],
        ["an expired token", { authorization: `Bearer ${signToken(config.jwtSecret, { id: RIDER, role: "rider" }, -1)}` }],
      ];
      for (const [label, headers] of cases)
        await expectError(await search({ lat: HCMC.lat, lng: HCMC.lng }, headers), 401, "unauthorized", label);
    });

    it("answers 403 forbidden to a driver", async () => {
      await expectError(await search({ lat: HCMC.lat, lng: HCMC.lng }, bearer("driver", "driver-1")), 403, "forbidden");
    });
  });
});

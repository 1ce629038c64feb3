import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../shared/config";
import type { Region } from "../../shared/regions";
import type { Trip } from "../../shared/trips/trip";
import { newTripId } from "../../shared/trips/trip-id";
import { type TripStore } from "../../shared/trips/trip-store";
import { bearer, token } from "../../tests/support/auth";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { BANGKOK, HCMC, tripRequest } from "../../harness/places";
import { resetState } from "../../harness/state";
import { getTripApp } from "./app";
import { connectDependencies } from "./dependencies";
import type { DependencyHandle } from "../../shared/clients/dependency";

const config = loadConfig();
const RIDER = "rider-get-1";
const DRIVER = "driver-get-1";

let trips: TripStore;
let fn: TestFunction;

let handles: DependencyHandle[];

beforeAll(() => {
  const wired = connectDependencies(config);
  ({ trips, handles } = wired);
  fn = inProcess(getTripApp(wired.deps), handles);
});

afterAll(() => Promise.all(handles.map((handle) => handle.close())));

beforeEach(resetState);

async function book(region: Region = "vn", riderId = RIDER): Promise<Trip> {
  const request = { ...tripRequest(region === "vn" ? HCMC : BANGKOK), serviceId: "car" as const };
  return (await trips.create(region, { ...request, id: newTripId(region), riderId })).trip;
}

function get(id: string, headers: Record<string, string>): Promise<Response> {
  return fn.request(`/v1/trips/${id}`, { headers });
}

async function expectNotFound(res: Response, id: string): Promise<void> {
  expect(res.status).toBe(404);
  expect(await res.json()).toEqual({ error: { code: "trip_not_found", message: expect.stringContaining(id), details: [] } });
}

const SPEC_FIELDS = [
  "id",
  "riderId",
  "serviceId",
  "originText",
  "destText",
  "originLat",
  "originLng",
  "destLat",
  "destLng",
  "status",
  "createdAt",
  "updatedAt",
];

describe("GET /v1/trips/:id", () => {
  describe("the trip's rider", () => {
    it("gets the trip with exactly the SPEC fields", async () => {
      const trip = await book();

      const res = await get(trip.id, bearer("rider", RIDER));

      expect(res.status).toBe(200);
      const body = (await res.json()) as Trip;
      expect(Object.keys(body).sort()).toEqual([...SPEC_FIELDS].sort());
      expect(body).toEqual({
        id: trip.id,
        riderId: RIDER,
        status: "requested",
        ...tripRequest(HCMC),
        createdAt: trip.createdAt,
        updatedAt: trip.updatedAt,
      });
    });

    it("sees the driver once one is assigned", async () => {
      const trip = await book();
      await trips.assign(trip.id, DRIVER);

      const body = (await (await get(trip.id, bearer("rider", RIDER))).json()) as Trip;

      expect(body).toMatchObject({ id: trip.id, status: "assigned", driverId: DRIVER });
      expect(Object.keys(body).sort()).toEqual([...SPEC_FIELDS, "driverId"].sort());
    });

    it("gets a Bangkok trip from the th shard", async () => {
      const trip = await book("th");

      const res = await get(trip.id, bearer("rider", RIDER));

      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: trip.id, originLat: BANGKOK.lat, originLng: BANGKOK.lng });
    });
  });

  describe("the trip's driver", () => {
    it("gets the trip assigned to them", async () => {
      const trip = await book();
      await trips.assign(trip.id, DRIVER);

      const res = await get(trip.id, bearer("driver", DRIVER));

      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: trip.id, riderId: RIDER, driverId: DRIVER, status: "assigned" });
    });
  });

  describe("anyone else", () => {
    it("gets 404 trip_not_found for another rider's trip, exactly as for a trip that does not exist", async () => {
      const trip = await book("vn", "rider-owner");
      const missing = newTripId("vn");

      const theirs = await get(trip.id, bearer("rider", RIDER));
      const nothing = await get(missing, bearer("rider", RIDER));

      expect(theirs.status).toBe(404);
      expect(nothing.status).toBe(404);
      const theirsBody = JSON.stringify(await theirs.json()).replace(trip.id, "<id>");
      const nothingBody = JSON.stringify(await nothing.json()).replace(missing, "<id>");
      expect(theirsBody).toBe(nothingBody);
      expect(JSON.parse(theirsBody).error.code).toBe("trip_not_found");
    });

    it("gets 404 for a trip that does not exist", async () => {
      const id = newTripId("th");

      await expectNotFound(await get(id, bearer("rider", RIDER)), id);
    });

    it("gets 404 as a driver for a trip assigned to another driver", async () => {
      const trip = await book();
      await trips.assign(trip.id, "driver-other");

      await expectNotFound(await get(trip.id, bearer("driver", DRIVER)), trip.id);
    });

    it("gets 404 as a driver for a trip nobody is driving yet", async () => {
      const trip = await book();

      await expectNotFound(await get(trip.id, bearer("driver", DRIVER)), trip.id);
    });

    it("gets 404 as a driver whose id is the rider's", async () => {
      const trip = await book();

      await expectNotFound(await get(trip.id, bearer("driver", RIDER)), trip.id);
    });
  });

  describe("malformed ids", () => {
    it("answers 404 trip_not_found to ids that are not trip ids", async () => {
      const uuid = newTripId("vn").slice(3);
      const ids = [
        "123",
        `xx_${uuid}`,
        `VN_${uuid}`,
        "vn_",
        "vn_123e4567-e89b-12d3-a456-426614174000",
        `vn_${uuid}x`,
        "vn_'or'1'='1",
        `vn_${"a".repeat(5000)}`,
      ];
      for (const id of ids) {
        const res = await get(encodeURIComponent(id), bearer("rider", RIDER));

        expect(res.status, id).toBe(404);
        expect(await res.json(), id).toEqual({ error: { code: "trip_not_found", message: expect.any(String), details: [] } });
      }
    });
  });

  describe("authentication", () => {
    it("answers 401 unauthorized to a missing, expired or forged token", async () => {
      const trip = await book();
      const cases: [string, Record<string, string>][] = [
        ["no token", {}],
        ["an expired token", { authorization: `Bearer ${token("rider", RIDER, -1)}` }],
        ["a forged token", { authorization: `Bearer ${token("rider", RIDER).slice(0, -4)}AAAA` }],
      ];
      for (const [label, headers] of cases) {
        const res = await get(trip.id, headers);

        expect(res.status, label).toBe(401);
        expect(await res.json(), label).toEqual({ error: { code: "unauthorized", message: expect.any(String), details: [] } });
      }
    });
  });
});

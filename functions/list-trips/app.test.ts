import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { DependencyHandle } from "../../shared/clients/dependency";
import { loadConfig } from "../../shared/config";
import type { Role } from "../../shared/principal";
import { REGIONS, perRegion, type Region } from "../../shared/regions";
import type { Trip } from "../../shared/trips/trip";
import { newTripId, regionOfTripId } from "../../shared/trips/trip-id";
import type { TripStore } from "../../shared/trips/trip-store";
import { BANGKOK, HCMC, tripRequest } from "../../harness/places";
import { resetState, shardSql } from "../../harness/state";
import { bearer, token } from "../../tests/support/auth";
import { expectError } from "../../tests/support/http";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { listTripsApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const RIDER = "rider-list-1";
const DRIVER = "driver-list-1";

interface Page {
  items: Trip[];
  nextCursor?: string;
}

let trips: TripStore;
let fn: TestFunction;
let handles: DependencyHandle[];
const shards = perRegion(shardSql);

beforeAll(() => {
  const wired = connectDependencies(config);
  ({ trips, handles } = wired);
  fn = inProcess(listTripsApp(wired.deps), handles);
});

afterAll(() => Promise.all([...handles.map((handle) => handle.close()), ...REGIONS.map((region) => shards[region].end())]));

beforeEach(resetState);

async function book(region: Region = "vn", riderId = RIDER): Promise<Trip> {
  const request = { ...tripRequest(region === "vn" ? HCMC : BANGKOK), serviceId: "car" as const };
  return (await trips.create(region, { ...request, id: newTripId(region), riderId })).trip;
}

/** Trips booked one after the other (each a transaction of its own, so each created after the last), alternating shards. */
async function bookInTurn(count: number, riderId = RIDER): Promise<Trip[]> {
  const booked: Trip[] = [];
  for (let i = 0; i < count; i++) booked.push(await book(REGIONS[i % REGIONS.length], riderId));
  return booked;
}

/** A driver who drove the trip to the end (a driver has one active trip at most, so the history is of finished ones). */
async function drive(trip: Trip, driverId: string): Promise<void> {
  await shards[regionOfTripId(trip.id)!]`update trips set driver_id = ${driverId}, status = 'completed' where id = ${trip.id}`;
}

function list(query: Record<string, string | number>, headers: Record<string, string> = bearer("rider", RIDER)): Promise<Response> {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  return fn.request(`/v1/trips?${params}`, { headers });
}

async function page(query: Record<string, string | number> = {}, role: Role = "rider", id = RIDER): Promise<Page> {
  const res = await list(query, bearer(role, id));
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

/** Every page of the caller's list, following nextCursor. */
async function allPages(limit: number, role: Role = "rider", id = RIDER): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const { items, nextCursor } = await page({ limit, ...(cursor && { cursor }) }, role, id);
    pages.push(items.map((trip) => trip.id));
    cursor = nextCursor;
  } while (cursor && pages.length < 100);
  return pages;
}

const newestFirst = (booked: Trip[]) => [...booked].reverse().map((trip) => trip.id);

describe("GET /v1/trips", () => {
  describe("the list", () => {
    it("answers the caller's trips newest first across both shards, each exactly as get-trip shows it", async () => {
      const booked = await bookInTurn(6);
      await drive(booked[1]!, DRIVER);

      const body = await page();

      expect(body).toEqual({ items: await Promise.all(newestFirst(booked).map((id) => trips.get(id))) });
      expect(new Set(body.items.map((trip) => regionOfTripId(trip.id)))).toEqual(new Set(["vn", "th"]));
      const times = body.items.map((trip) => Date.parse(trip.createdAt));
      expect(times).toEqual([...times].sort((a, b) => b - a));
    });

    it("answers an empty list, without a cursor, to someone who has no trips", async () => {
      await book("vn", "rider-other");

      expect(await page()).toEqual({ items: [] });
    });

    it("pages through every trip exactly once, in order, and says nothing more after the last page", async () => {
      const booked = await bookInTurn(23);

      const pages = await allPages(5);

      expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
      expect(pages.flat()).toEqual(newestFirst(booked));
    });

    it("pages exactly through trips created at the same instant and within one millisecond", async () => {
      // Bookings that arrive together share one insert, hence one created_at; and PostgreSQL keeps microseconds, so
      // a cursor at JavaScript's millisecond would skip or repeat the trips created within the same millisecond.
      const together = await Promise.all(Array.from({ length: 6 }, (_, i) => book(REGIONS[i % 2])));
      const withinOneMs = await bookInTurn(6);
      for (const [i, trip] of withinOneMs.entries()) {
        const at = `2026-01-01T00:00:00.000${String(100 + i * 100).padStart(3, "0")}Z`;
        const [row] = await shards[regionOfTripId(trip.id)!]<{ stored: string }[]>`
          update trips set created_at = ${at}::text::timestamptz where id = ${trip.id}
          returning to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as stored`;
        expect(row!.stored).toBe(at);
      }
      const togetherInVn = together.map((t) => t.id).filter((id) => id.startsWith("vn_"));
      const [instants] = await shards.vn<
        { n: number }[]
      >`select count(distinct created_at)::int as n from trips where id in ${shards.vn(togetherInVn)}`;
      expect(instants!.n, "the vn bookings made together share one created_at").toBe(1);

      for (const limit of [1, 2, 4]) {
        const ids = (await allPages(limit)).flat();
        expect(ids, `limit ${limit}`).toHaveLength(12);
        expect(new Set(ids).size, `limit ${limit}`).toBe(12);
        // The millisecond ones are the oldest (2026-01-01), newest microsecond first.
        expect(ids.slice(6), `limit ${limit}`).toEqual(newestFirst(withinOneMs));
        expect(new Set(ids.slice(0, 6)), `limit ${limit}`).toEqual(new Set(together.map((t) => t.id)));
      }
      // The same order whatever the page size.
      expect((await allPages(1)).flat()).toEqual((await page({ limit: 12 })).items.map((t) => t.id));
    });

    it("goes on from where the last page ended when a trip is booked between two pages", async () => {
      const booked = await bookInTurn(7);
      const first = await page({ limit: 3 });

      const newer = await book("th");
      const second = await page({ limit: 3, cursor: first.nextCursor! });

      expect(first.items.map((t) => t.id)).toEqual(newestFirst(booked).slice(0, 3));
      expect(second.items.map((t) => t.id)).toEqual(newestFirst(booked).slice(3, 6));
      expect((await page({ limit: 3 })).items[0]!.id).toBe(newer.id);
    });
  });

  describe("whose trips", () => {
    it("shows a rider the trips they booked, and a driver the trips they drove, whoever booked them", async () => {
      const [mine1, mine2, mine3] = await bookInTurn(3);
      const theirs = await book("th", "rider-other");
      await drive(mine1!, DRIVER);
      await drive(theirs, DRIVER);
      await drive(mine3!, "driver-other");

      expect((await page()).items.map((t) => t.id)).toEqual([mine3!.id, mine2!.id, mine1!.id]);
      const driven = (await page({}, "driver", DRIVER)).items;
      expect(driven.map((t) => t.id)).toEqual([theirs.id, mine1!.id]);
      expect(driven.every((t) => t.driverId === DRIVER)).toBe(true);
    });

    it("never shows anyone else's trips: other riders', other drivers', nor a rider's to a driver of the same id", async () => {
      await bookInTurn(4, "rider-other");
      const mine = await book("th");
      const others = await bookInTurn(2, "rider-third");
      await drive(others[0]!, "driver-other");

      expect((await page()).items.map((t) => t.id)).toEqual([mine.id]);
      expect((await page({}, "driver", RIDER)).items).toEqual([]);
      expect((await page({}, "driver", DRIVER)).items).toEqual([]);
    });
  });

  describe("limit", () => {
    it("defaults to 20, takes up to 100", async () => {
      const booked = await bookInTurn(105);

      const first = await page();
      expect(first.items.map((t) => t.id)).toEqual(newestFirst(booked).slice(0, 20));
      expect(first.nextCursor).toEqual(expect.any(String));

      const most = await page({ limit: 100 });
      expect(most.items.map((t) => t.id)).toEqual(newestFirst(booked).slice(0, 100));
      expect((await page({ limit: 100, cursor: most.nextCursor! })).items.map((t) => t.id)).toEqual(newestFirst(booked).slice(100));

      // What loadtests expect of a rider's history screen.
      expect((await page({ limit: 10 })).items).toHaveLength(10);
    });

    it("refuses a limit above 100, below 1 or not a whole number", async () => {
      for (const limit of [101, 0, -1, 2.5, "ten", "1e3", "20abc"]) {
        const error = await expectError(await list({ limit }), 400, "invalid_request", `limit=${limit}`);
        expect(error.details, `limit=${limit}`).toEqual([{ field: "limit", issue: expect.any(String) }]);
      }
    });
  });

  describe("cursor", () => {
    async function aCursor(): Promise<string> {
      await bookInTurn(3);
      return (await page({ limit: 1 })).nextCursor!;
    }

    async function expectRefused(cursor: string, label: string, headers?: Record<string, string>): Promise<void> {
      const error = await expectError(await list({ limit: 1, cursor }, headers), 400, "invalid_request", label);
      expect(error.details, label).toEqual([{ field: "cursor", issue: expect.any(String) }]);
    }

    it("refuses what is not a cursor", async () => {
      const position = `2026-01-01T00:00:00.000000Z ${newTripId("vn")}`;
      const cases = [
        "abc",
        "....",
        "%00",
        "\u0000",
        "x".repeat(300),
        Buffer.from(position).toString("base64url"),
        `${Buffer.from(position).toString("base64url")}.AAAAAAAAAAAAAAAAAAAAAA`,
        Buffer.from("' or 1=1 --").toString("base64url"),
      ];
      for (const cursor of cases) await expectRefused(cursor, cursor.slice(0, 40));
    });

    it("refuses a cursor changed in any character, or given to someone else", async () => {
      const cursor = await aCursor();
      const [payload, mac] = cursor.split(".") as [string, string];
      const later = Buffer.from(
        Buffer.from(payload, "base64url")
          .toString()
          .replace(/^\d{4}/, "2999"),
      ).toString("base64url");

      for (let i = 0; i < cursor.length; i++) {
        const swapped = cursor[i] === "A" ? "B" : "A";
        await expectRefused(cursor.slice(0, i) + swapped + cursor.slice(i + 1), `character ${i} changed`);
      }
      await expectRefused(`${later}.${mac}`, "a later position with the original MAC");
      await expectRefused(`${cursor}.`, "a trailing dot");
      await expectRefused(`${cursor}=`, "padding");
      await expectRefused(cursor, "another rider", bearer("rider", "rider-other"));
      await expectRefused(cursor, "a driver of the same id", bearer("driver", RIDER));
      expect((await list({ limit: 1, cursor })).status, "the cursor itself").toBe(200);
    });
  });

  describe("replicas", () => {
    function withEnv(env: Record<string, string>) {
      const wired = connectDependencies(loadConfig({ ...process.env, ...env }));
      return { fn: inProcess(listTripsApp(wired.deps), wired.handles), close: () => Promise.all(wired.handles.map((h) => h.close())) };
    }

    it("reads each shard's replica when one is configured, not its primary", async () => {
      // A stand-in for a vn replica that has not replayed the rider's trip yet: a database with the schema and none of it.
      await book("vn");
      const lagging = withEnv({ DATABASE_REPLICA_URL_VN: config.shards.th.primaryUrl });
      try {
        const res = await lagging.fn.request("/v1/trips", { headers: bearer("rider", RIDER) });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ items: [] });
      } finally {
        await lagging.close();
      }
    });

    it.each([
      ["a shard's replica", "DATABASE_REPLICA_URL_TH"],
      ["a shard without a replica", "DATABASE_URL_TH"],
    ])("answers 503 with Retry-After when %s is down", async (_, setting) => {
      await book("vn");
      const down = withEnv({ [setting]: "postgres://postgres@127.0.0.1:1/uitgo_nowhere" });
      try {
        const res = await down.fn.request("/v1/trips", { headers: bearer("rider", RIDER) });
        await expectError(res, 503, "service_unavailable");
        expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
      } finally {
        await down.close();
      }
    });
  });

  describe("authentication", () => {
    it("answers 401 unauthorized to a missing, expired or forged token", async () => {
      const cases: [string, Record<string, string>][] = [
        ["no token", {}],
        ["an expired token", { authorization: `Bearer ${token("rider", RIDER, -1)}` }],
        ["a forged token", { authorization: `Bearer ${token("rider", RIDER).slice(0, -4)}AAAA` }],
      ];
      for (const [label, headers] of cases) await expectError(await list({}, headers), 401, "unauthorized", label);
    });
  });
});

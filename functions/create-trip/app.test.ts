import { createHmac } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TRIP_REQUESTED_TYPE } from "../../shared/cloudevents/types";
import type { Nats } from "../../shared/clients/nats";
import { loadConfig } from "../../shared/config";
import { TripEvents } from "../../shared/events/trip-events";
import { DependencyUnavailable } from "../../shared/clients/dependency";
import { signToken } from "../../shared/tokens";
import type { Trip } from "../../shared/trips/trip";
import { type TripStore } from "../../shared/trips/trip-store";
import { bearer, token } from "../../tests/support/auth";
import { expectError, chunkedBody } from "../../tests/support/http";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { BANGKOK, HCMC, NOWHERE, tripRequest } from "../../harness/places";
import { resetState, shardSql, tripCount } from "../../harness/state";
import { createTripApp } from "./app";
import { connectDependencies } from "./dependencies";
import type { DependencyHandle } from "../../shared/clients/dependency";

const config = loadConfig();
const RIDER = "rider-create-1";
const LIMIT = 16 * 1024;

let trips: TripStore;
let nats: Nats;
let jsm: JetStreamManager;
let fn: TestFunction;

let handles: DependencyHandle[];

beforeAll(async () => {
  const wired = connectDependencies(config);
  ({ trips, nats, handles } = wired);
  await nats.connected;
  jsm = await nats.manager();
  // The rider's limits (bookings a minute, trips at once) have their own tests (tests/client-limits.test.ts);
  // these book more than they allow.
  const { bookings: _limited, maxActiveTrips: _capped, ...unlimited } = wired.deps;
  fn = inProcess(createTripApp(unlimited), handles);
});

afterAll(() => Promise.all(handles.map((handle) => handle.close())));

beforeEach(resetState);

function post(body: unknown, headers: Record<string, string> = bearer("rider", RIDER)): Promise<Response> {
  return fn.json("POST", "/v1/trips", body, headers);
}

async function readTrip(res: Response): Promise<Trip> {
  return (await res.json()) as Trip;
}

async function streamMessages(): Promise<number> {
  return (await jsm.streams.info("TRIPS")).state.messages;
}

async function expectNothingWritten(): Promise<void> {
  expect(await tripCount()).toBe(0);
  expect(await streamMessages()).toBe(0);
}

function segment(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** A token signed with `secret` (the real one by default) over any header and claims. */
function craftToken(header: object, claims: object, secret = config.jwtSecret): string {
  const data = `${segment(header)}.${segment(claims)}`;
  return `${data}.${createHmac("sha256", secret).update(data).digest("base64url")}`;
}

/** A valid trip request padded with an ignored field to exactly `bytes` bytes of JSON. */
function paddedBody(bytes: number): string {
  const empty = JSON.stringify({ ...tripRequest(), padding: "" });
  return JSON.stringify({ ...tripRequest(), padding: "x".repeat(bytes - empty.length) });
}

describe("POST /v1/trips", () => {
  describe("a valid booking", () => {
    it("answers 201 with the requested trip and its Location", async () => {
      const res = await post(tripRequest());

      expect(res.status).toBe(201);
      const trip = await readTrip(res);
      expect(trip).toEqual({
        id: expect.stringMatching(/^vn_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        riderId: RIDER,
        status: "requested",
        ...tripRequest(),
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      expect(new Date(trip.createdAt).toISOString()).toBe(trip.createdAt);
      expect(res.headers.get("location")).toBe(`/v1/trips/${trip.id}`);
      expect(res.headers.get("idempotent-replayed")).toBeNull();
    });

    it("stores a Ho Chi Minh City trip in the vn shard only", async () => {
      const trip = await readTrip(await post(tripRequest(HCMC)));

      const vn = shardSql("vn");
      const th = shardSql("th");
      try {
        const rows = await vn`select rider_id, status, service_id, origin_lat, origin_lng from trips where id = ${trip.id}`;
        expect(rows).toEqual([{ rider_id: RIDER, status: "requested", service_id: "car", origin_lat: HCMC.lat, origin_lng: HCMC.lng }]);
        expect(await th`select id from trips`).toHaveLength(0);
      } finally {
        await Promise.all([vn.end(), th.end()]);
      }
    });

    it("emits trips.requested.vn with schema version 1 and the trip", async () => {
      const trip = await readTrip(await post(tripRequest(HCMC)));

      const message = await jsm.streams.getMessage("TRIPS", { last_by_subj: "trips.requested.vn" });
      expect(message).not.toBeNull();
      expect(message!.json()).toEqual({ schemaVersion: 1, type: TRIP_REQUESTED_TYPE, time: expect.any(String), trip });
      expect(message!.header.get("Nats-Msg-Id")).not.toBe("");
      expect(await streamMessages()).toBe(1);
    });

    it("books a Bangkok trip as th_, in the th shard, on trips.requested.th", async () => {
      const res = await post(tripRequest(BANGKOK, { destLat: 13.69, destLng: 100.75 }));

      expect(res.status).toBe(201);
      const trip = await readTrip(res);
      expect(trip.id).toMatch(/^th_/);
      expect(res.headers.get("location")).toBe(`/v1/trips/${trip.id}`);

      const th = shardSql("th");
      const vn = shardSql("vn");
      try {
        expect(await th`select id from trips`).toEqual([{ id: trip.id }]);
        expect(await vn`select id from trips`).toHaveLength(0);
      } finally {
        await Promise.all([th.end(), vn.end()]);
      }
      const message = await jsm.streams.getMessage("TRIPS", { last_by_subj: "trips.requested.th" });
      expect(message?.json()).toMatchObject({ schemaVersion: 1, trip });
      expect(await jsm.streams.getMessage("TRIPS", { last_by_subj: "trips.requested.vn" })).toBeNull();
    });

    it("accepts every serviceId: bike, car, car_xl", async () => {
      for (const serviceId of ["bike", "car", "car_xl"]) {
        const res = await post(tripRequest(HCMC, { serviceId }));

        expect(res.status, serviceId).toBe(201);
        expect((await readTrip(res)).serviceId).toBe(serviceId);
      }
    });

    it("accepts a JSON content type with a charset", async () => {
      const res = await post(tripRequest(), { ...bearer("rider", RIDER), "content-type": "application/json; charset=utf-8" });

      expect(res.status).toBe(201);
    });

    it("accepts a body of exactly 16 KiB", async () => {
      expect((await post(paddedBody(LIMIT))).status).toBe(201);
    });

    it("takes the rider from the token, not from the body", async () => {
      const res = await post(tripRequest(HCMC, { riderId: "someone-else" }));

      expect((await readTrip(res)).riderId).toBe(RIDER);
    });

    it("books two trips for two requests without an Idempotency-Key", async () => {
      const first = await readTrip(await post(tripRequest()));
      const second = await readTrip(await post(tripRequest()));

      expect(second.id).not.toBe(first.id);
      expect(await tripCount()).toBe(2);
    });

    it("books every one of many concurrent requests (inserted together) as its own trip, each as stored", async () => {
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => post({ ...tripRequest(), originText: `Stop ${i}` })));

      expect(answers.every((res) => res.status === 201)).toBe(true);
      const trips = await Promise.all(answers.map(readTrip));
      expect(trips.map((trip) => trip.originText)).toEqual(trips.map((_, i) => `Stop ${i}`));
      expect(new Set(trips.map((trip) => trip.id)).size).toBe(60);
      expect(await tripCount()).toBe(60);
      const stored = await shardSql("vn")<
        { id: string; origin_text: string; origin_lat: number }[]
      >`select id, origin_text, origin_lat from trips`;
      const byId = new Map(stored.map((row) => [row.id, row]));
      for (const trip of trips) expect(byId.get(trip.id)).toMatchObject({ origin_text: trip.originText, origin_lat: trip.originLat });
      expect(await streamMessages()).toBe(60);
    });
  });

  describe("Idempotency-Key", () => {
    const withKey = (key: string, rider = RIDER) => ({ ...bearer("rider", rider), "idempotency-key": key });

    it("returns the same trip for a retry, marked as replayed, with one row and one event", async () => {
      const first = await post(tripRequest(), withKey("booking-42"));
      const second = await post(tripRequest(), withKey("booking-42"));

      expect(first.status).toBe(201);
      expect(second.status).toBe(201);
      const trip = await readTrip(first);
      expect(await readTrip(second)).toEqual(trip);
      expect(second.headers.get("idempotent-replayed")).toBe("true");
      expect(second.headers.get("location")).toBe(`/v1/trips/${trip.id}`);
      expect(await tripCount()).toBe(1);
      expect(await streamMessages()).toBe(1);
    });

    it("books one trip for concurrent retries with the same key", async () => {
      const answers = await Promise.all(Array.from({ length: 5 }, () => post(tripRequest(), withKey("booking-race"))));

      expect(answers.map((res) => res.status)).toEqual([201, 201, 201, 201, 201]);
      const ids = await Promise.all(answers.map(async (res) => (await readTrip(res)).id));
      expect(new Set(ids).size).toBe(1);
      expect(await tripCount()).toBe(1);
      expect(await streamMessages()).toBe(1);
    });

    it("refuses the same key for a different trip with 422 idempotency_key_reused", async () => {
      await post(tripRequest(), withKey("booking-43"));
      const res = await post(tripRequest(HCMC, { serviceId: "bike" }), withKey("booking-43"));

      await expectError(res, 422, "idempotency_key_reused");
      expect(await tripCount()).toBe(1);
      expect(await streamMessages()).toBe(1);
    });

    it("refuses the same key for a trip in another region with 422 idempotency_key_reused", async () => {
      await post(tripRequest(HCMC), withKey("booking-44"));
      const res = await post(tripRequest(BANGKOK), withKey("booking-44"));

      await expectError(res, 422, "idempotency_key_reused");
      expect(await tripCount()).toBe(1);
      expect(await streamMessages()).toBe(1);
    });

    it("scopes keys to the rider: two riders with one key get two trips", async () => {
      const a = await readTrip(await post(tripRequest(), withKey("shared-key", "rider-a")));
      const b = await post(tripRequest(), withKey("shared-key", "rider-b"));

      expect(b.status).toBe(201);
      expect((await readTrip(b)).id).not.toBe(a.id);
      expect(await tripCount()).toBe(2);
    });

    it("refuses a key with a space or over 255 characters (400 invalid_idempotency_key)", async () => {
      for (const key of ["two words", "k".repeat(256)]) {
        await expectError(await post(tripRequest(), withKey(key)), 400, "invalid_idempotency_key", key);
      }
      await expectNothingWritten();
    });
  });

  describe("bad input", () => {
    it("refuses malformed JSON with 400 malformed_json", async () => {
      await expectError(await post('{"originText": "Ben Thanh", '), 400, "malformed_json");
      await expectNothingWritten();
    });

    it("refuses a body that is not a JSON object with 400", async () => {
      const cases = [
        ["an array", JSON.stringify([tripRequest()]), "invalid_body"],
        ["a string", '"book me a car"', "invalid_body"],
        ["a number", "42", "invalid_body"],
        ["null", "null", "invalid_body"],
        ["empty", "", "malformed_json"],
      ];
      for (const [label, body, code] of cases) await expectError(await post(body), 400, code!, label);
      await expectNothingWritten();
    });

    it("refuses wrong types with 400 invalid_request naming the field", async () => {
      const cases: [string, unknown, string][] = [
        ["originLat", "10.7769", "must be a number"],
        ["destLng", true, "must be a number"],
        ["originText", 42, "must be a string"],
        ["serviceId", 1, "must be a string"],
        ["destText", { street: "Le Loi" }, "must be a string"],
      ];
      for (const [field, value, issue] of cases) {
        const error = await expectError(await post(tripRequest(HCMC, { [field]: value })), 400, "invalid_request", field);
        expect(error.details, field).toEqual([{ field, issue }]);
      }
      await expectNothingWritten();
    });

    it("refuses a request missing any required field, naming it in details", async () => {
      for (const field of ["originText", "destText", "serviceId", "originLat", "originLng", "destLat", "destLng"]) {
        const request: Record<string, unknown> = tripRequest();
        delete request[field];

        const error = await expectError(await post(request), 400, "invalid_request", field);
        expect(error.details, field).toEqual([{ field, issue: "is required" }]);
      }
      await expectNothingWritten();
    });

    it("names every problem in one answer", async () => {
      const error = await expectError(await post({ originLat: 91, serviceId: "rocket" }), 400, "invalid_request");

      expect(error.details.map((d) => d.field).sort()).toEqual([
        "destLat",
        "destLng",
        "destText",
        "originLat",
        "originLng",
        "originText",
        "serviceId",
      ]);
      await expectNothingWritten();
    });

    it("refuses coordinates out of range or not numbers", async () => {
      const cases: [string, unknown][] = [
        ["originLat", 91],
        ["originLat", -90.0001],
        ["originLng", -181],
        ["destLat", -91],
        ["destLng", 180.5],
        ["originLat", "NaN"],
        ["originLng", "Infinity"],
        ["destLat", "-Infinity"],
        ["destLng", ""],
        ["originLat", 1e400],
      ];
      for (const [field, value] of cases) {
        const label = `${field} = ${JSON.stringify(value)}`;
        const error = await expectError(await post(tripRequest(HCMC, { [field]: value })), 400, "invalid_request", label);
        expect(
          error.details.map((d) => d.field),
          label,
        ).toEqual([field]);
      }
      await expectNothingWritten();
    });

    it("refuses an unknown serviceId", async () => {
      for (const serviceId of ["helicopter", "CAR", "", "car "]) {
        const error = await expectError(await post(tripRequest(HCMC, { serviceId })), 400, "invalid_request", serviceId);
        expect(error.details.map((d) => d.field)).toEqual(["serviceId"]);
      }
      await expectNothingWritten();
    });

    it("refuses a blank originText or one over 500 characters", async () => {
      for (const originText of ["   ", "x".repeat(501)]) {
        const error = await expectError(await post(tripRequest(HCMC, { originText })), 400, "invalid_request", originText);
        expect(error.details.map((d) => d.field)).toEqual(["originText"]);
      }
      await expectNothingWritten();
    });

    it("refuses text PostgreSQL cannot store (NUL, an unpaired surrogate) with 400 naming the field", async () => {
      // JSON.stringify writes a lone surrogate as its \u escape, as a client's JSON would carry it.
      for (const [label, field, value] of [
        ["NUL", "originText", "Ben Thanh\u0000"],
        ["a lone high surrogate", "destText", "Tan Son Nhat \ud83d"],
        ["a lone low surrogate", "originText", "\ude95 Ben Thanh"],
      ] as const) {
        const error = await expectError(await post(tripRequest(HCMC, { [field]: value })), 400, "invalid_request", label);
        expect(error.details.map((d) => d.field)).toEqual([field]);
      }
      await expectNothingWritten();
    });

    it("takes any well-formed text, emoji and accents included", async () => {
      const response = await post(tripRequest(HCMC, { originText: "Chợ Bến Thành 🚕", destText: "Sân bay Tân Sơn Nhất ✈️" }));
      expect(response.status).toBe(201);
      expect(((await response.json()) as { originText: string }).originText).toBe("Chợ Bến Thành 🚕");
    });

    it("refuses a pickup outside every service area with 422 outside_service_area", async () => {
      await expectError(await post(tripRequest(NOWHERE)), 422, "outside_service_area");
      await expectNothingWritten();
    });

    it("refuses a body over 16 KiB with a truthful Content-Length (413)", async () => {
      const body = paddedBody(LIMIT + 1);
      const res = await fn.request("/v1/trips", {
        method: "POST",
        headers: { ...bearer("rider", RIDER), "content-type": "application/json", "content-length": String(body.length) },
        body,
      });

      await expectError(res, 413, "payload_too_large");
      await expectNothingWritten();
    });

    it("refuses a body over 16 KiB whose Content-Length understates it (413)", async () => {
      const res = await fn.request("/v1/trips", {
        method: "POST",
        headers: { ...bearer("rider", RIDER), "content-type": "application/json", "content-length": "100" },
        body: paddedBody(LIMIT + 1),
      });

      await expectError(res, 413, "payload_too_large");
      await expectNothingWritten();
    });

    it("refuses a chunked body over 16 KiB without reading all of it (413)", async () => {
      const { stream, pulled } = chunkedBody(paddedBody(1024 * 1024));
      const res = await fn.request("/v1/trips", {
        method: "POST",
        headers: { ...bearer("rider", RIDER), "content-type": "application/json" },
        body: stream,
        duplex: "half",
      } as RequestInit);

      await expectError(res, 413, "payload_too_large");
      expect(pulled()).toBeLessThan(64);
      await expectNothingWritten();
    });

    it("refuses other content types with 415 unsupported_media_type", async () => {
      const cases = [
        ["text/plain", JSON.stringify(tripRequest())],
        ["application/x-www-form-urlencoded", "originText=Ben+Thanh&serviceId=car&originLat=10.7769"],
        ["multipart/form-data; boundary=x", "--x--"],
        ["application/jsonp", JSON.stringify(tripRequest())],
      ];
      for (const [type, body] of cases) {
        const res = await fn.request("/v1/trips", { method: "POST", headers: { ...bearer("rider", RIDER), "content-type": type! }, body });
        await expectError(res, 415, "unsupported_media_type", type);
      }
      await expectNothingWritten();
    });
  });

  describe("authentication", () => {
    it("answers 401 unauthorized to a missing, expired, forged or otherwise invalid token", async () => {
      const claims = { sub: RIDER, role: "rider", exp: Math.floor(Date.now() / 1000) + 3600 };
      const valid = token("rider", RIDER);
      const cases: [string, string | undefined][] = [
        ["no Authorization header", undefined],
        ["a Basic scheme", `Basic ${Buffer.from("rider:secret").toString("base64")}`],
        ["an empty bearer", "Bearer "],
        ["an expired token", `Bearer ${signToken(config.jwtSecret, { id: RIDER, role: "rider" }, -1)}`],
        ["a forged signature", `Bearer ${valid.replace(/\.[^.]+$/, `.${createHmac("sha256", "x").update("y").digest("base64url")}`)}`],
        ["a tampered payload", `Bearer ${valid.replace(/\.[^.]+\./, `.${segment({ ...claims, sub: "someone-else" })}.`)}`],
        ["a token signed with another secret", `Bearer ${signToken("not-the-secret", { id: RIDER, role: "rider" })}`],
        ["an alg none token", `Bearer ${segment({ alg: "none", typ: "JWT" })}.${segment(claims)}.`],
        ["an alg none token carrying a valid HMAC", `Bearer ${craftToken({ alg: "none", typ: "JWT" }, claims)}`],
        ["a token with role admin", `Bearer ${craftToken({ alg: "HS256", typ: "JWT" }, { ...claims, role: "admin" })}`],
        ["a token without sub", `Bearer ${craftToken({ alg: "HS256", typ: "JWT" }, { role: "rider", exp: claims.exp })}`],
        ["a token without exp", `Bearer ${craftToken({ alg: "HS256", typ: "JWT" }, { sub: RIDER, role: "rider" })}`],
        ["garbage", "Bearer not.a.jwt"],
      ];
      for (const [label, authorization] of cases) {
        const res = await post(tripRequest(), authorization === undefined ? {} : { authorization });
        await expectError(res, 401, "unauthorized", label);
      }
      await expectNothingWritten();
    });

    it("answers 403 forbidden to a driver", async () => {
      await expectError(await post(tripRequest(), bearer("driver", "driver-1")), 403, "forbidden");
      await expectNothingWritten();
    });
  });
});

describe("POST /v1/trips when the event's answer is lost", () => {
  // The event is stored but its acknowledgement never arrives (NATS cut mid-publish); meanwhile matching took the trip.
  class AnswerLostAfterMatching extends TripEvents {
    override async publish(...args: Parameters<TripEvents["publish"]>): Promise<void> {
      await super.publish(...args);
      await trips.assign(args[1].id, "driver-on-the-way");
      throw new DependencyUnavailable("nats", "no answer to the publish");
    }
  }

  // Nothing reached the stream.
  class Refused extends TripEvents {
    override async publish(): Promise<void> {
      throw new DependencyUnavailable("nats", "not connected");
    }
  }

  it("answers 201 with the trip as matching left it, not a 503 for a trip a driver is on the way to", async () => {
    const lost = inProcess(createTripApp({ trips, events: new AnswerLostAfterMatching(nats), jwtSecret: config.jwtSecret }), [
      ...trips.handles(),
      nats,
    ]);
    const res = await lost.json("POST", "/v1/trips", tripRequest(HCMC), bearer("rider", RIDER));
    expect(res.status).toBe(201);
    const trip = await readTrip(res);
    expect(trip).toMatchObject({ status: "assigned", driverId: "driver-on-the-way", riderId: RIDER });
    expect(res.headers.get("location")).toBe(`/v1/trips/${trip.id}`);
    expect(await tripCount()).toBe(1);
    expect(await streamMessages()).toBe(1);
  });

  it("answers 503 and leaves nothing when the event was not stored", async () => {
    const refused = inProcess(createTripApp({ trips, events: new Refused(nats), jwtSecret: config.jwtSecret }), [...trips.handles(), nats]);
    const res = await refused.json("POST", "/v1/trips", tripRequest(HCMC), bearer("rider", RIDER));
    await expectError(res, 503, "service_unavailable");
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    await expectNothingWritten();
  });
});

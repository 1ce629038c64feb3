import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DRIVER_LOCATION_TYPE } from "../../shared/cloudevents/types";
import { Nats } from "../../shared/clients/nats";
import { connectRedis } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { DriverIndex, type NearbyDriver } from "../../shared/drivers/driver-index";
import { LocationEvents, MAX_LOCATIONS_PER_EVENT, locationSubject, type LocationEvent } from "../../shared/events/location-events";
import { signToken } from "../../shared/tokens";
import type { LatLng } from "../../shared/geo";
import { REGIONS, type Region } from "../../shared/regions";
import { bearer } from "../../tests/support/auth";
import { expectError, chunkedBody } from "../../tests/support/http";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { BANGKOK, HCMC, NOWHERE, offset } from "../../harness/places";
import { waitFor } from "../../harness/processes";
import { resetState } from "../../harness/state";
import { TcpProxy } from "../../harness/tcp-proxy";
import { updateLocationApp } from "./app";
import { connectDependencies } from "./dependencies";
import type { DependencyHandle } from "../../shared/clients/dependency";

const config = loadConfig();
const DRIVER = "driver-location-1";
const PATH = "/v1/drivers/me/location";
const LIMIT = 16 * 1024;

let redis: Redis;
let nats: Nats;
let jsm: JetStreamManager;
let drivers: DriverIndex;
let fn: TestFunction;

let handles: DependencyHandle[];

beforeAll(async () => {
  const wired = connectDependencies(config);
  ({ redis, nats, drivers, handles } = wired);
  await Promise.all(handles.map((handle) => handle.ping()));
  jsm = await jetstreamManager(await nats.connected);
  // The per-driver limit has its own tests (tests/client-limits.test.ts); these send more than it allows.
  const { updates: _limited, ...unlimited } = wired.deps;
  fn = inProcess(updateLocationApp(unlimited), handles);
});

afterAll(() => Promise.all(handles.map((handle) => handle.close())));

beforeEach(resetState);

function send(body: unknown, headers: Record<string, string> = bearer("driver", DRIVER)): Promise<Response> {
  return fn.json("POST", PATH, body, headers);
}

/** What a rider's search around `at` would return. */
function nearby(at: LatLng = HCMC, region: Region = "vn"): Promise<NearbyDriver[]> {
  return drivers.search(region, { ...at, radiusMeters: 10_000, limit: 50 });
}

/** The last known position the index holds for a driver: [lat, lng, recordedAt ms]. */
async function storedPosition(driverId: string, region: Region = "vn"): Promise<number[] | undefined> {
  const value = await redis.hget(`drivers:{${region}}:pos`, driverId);
  return value === null ? undefined : value.split(",").map(Number);
}

/** How many updates the DRIVER_LOCATIONS stream holds. */
async function streamed(): Promise<number> {
  return (await jsm.streams.info("DRIVER_LOCATIONS")).state.messages;
}

/** The last update appended for a region, with its message id. */
async function lastStreamed(region: Region = "vn"): Promise<{ event: LocationEvent; msgId: string | undefined }> {
  const message = await jsm.streams.getMessage("DRIVER_LOCATIONS", { last_by_subj: locationSubject(region) });
  return { event: message!.json<LocationEvent>(), msgId: message!.header?.get("Nats-Msg-Id") };
}

async function expectNothingWritten(): Promise<void> {
  for (const region of REGIONS) expect(await redis.hlen(`drivers:{${region}}:pos`), region).toBe(0);
  expect(await nearby()).toEqual([]);
  expect(await streamed()).toBe(0);
}

const oversized = () => JSON.stringify({ lat: HCMC.lat, lng: HCMC.lng, padding: "x".repeat(LIMIT) });

describe("POST /v1/drivers/me/location", () => {
  describe("a valid update", () => {
    it("answers 202 and indexes the driver named by the token, ignoring a driverId in the body", async () => {
      const at = offset(HCMC, 120, -80);

      const res = await send({ ...at, driverId: "someone-else" });

      expect(res.status).toBe(202);
      expect(await res.text()).toBe("");
      const found = await nearby();
      expect(found.map((d) => d.id)).toEqual([DRIVER]);
      expect(found[0]!.location).toMatchObject({ lat: at.lat, lng: at.lng });
      expect(await storedPosition("someone-else")).toBeUndefined();
    });

    it("accepts accuracy, heading, speed and a recordedAt", async () => {
      const recordedAt = new Date(Date.now() - 5000).toISOString();

      const res = await send({ ...HCMC, accuracy: 12.5, heading: 270, speed: 8.3, recordedAt, status: "available" });

      expect(res.status).toBe(202);
      expect((await nearby()).map((d) => [d.id, d.location.recordedAt])).toEqual([[DRIVER, recordedAt]]);
    });

    it("has the update stored in the DRIVER_LOCATIONS stream by the time it answers 202", async () => {
      const recordedAt = new Date(Date.now() - 5000);
      const at = offset(HCMC, 40, 60);

      expect((await send({ ...at, accuracy: 12.5, heading: 270, speed: 8.3, recordedAt: recordedAt.toISOString() })).status).toBe(202);

      expect(await streamed()).toBe(1);
      const { event, msgId } = await lastStreamed("vn");
      expect(event).toEqual({
        schemaVersion: 2,
        type: DRIVER_LOCATION_TYPE,
        time: expect.any(String),
        locations: [
          {
            driverId: DRIVER,
            region: "vn",
            ...at,
            accuracy: 12.5,
            heading: 270,
            speed: 8.3,
            status: "available",
            recordedAt: recordedAt.toISOString(),
          },
        ],
      });
      expect(msgId).toBe(`${DRIVER}:${recordedAt.getTime()}`);
    });

    it("stores a retried update (same recordedAt) once in the stream", async () => {
      const update = { ...HCMC, recordedAt: new Date(Date.now() - 2000).toISOString() };

      const answers = await Promise.all([send(update), send(update), send(update)]);
      const retried = await send(update);

      expect([...answers, retried].map((res) => res.status)).toEqual([202, 202, 202, 202]);
      expect(await streamed()).toBe(1);
      expect((await lastStreamed()).event.locations).toHaveLength(1);
    });

    it("appends the updates of a region that arrive together as one event, each answered once it is stored", async () => {
      const recordedAt = new Date(Date.now() - 1000).toISOString();
      const drivers = Array.from({ length: 40 }, (_, i) => `driver-together-${i}`);

      const answers = await Promise.all(drivers.map((id, i) => send({ ...offset(HCMC, i * 10, 0), recordedAt }, bearer("driver", id))));

      expect(answers.map((res) => res.status)).toEqual(drivers.map(() => 202));
      const { first_seq: first, last_seq: last } = (await jsm.streams.info("DRIVER_LOCATIONS")).state;
      const appended: string[] = [];
      for (let seq = first; seq <= last; seq++) {
        const message = await jsm.streams.getMessage("DRIVER_LOCATIONS", { seq });
        const event = message!.json<LocationEvent>();
        expect(event.locations.length).toBeLessThanOrEqual(MAX_LOCATIONS_PER_EVENT);
        appended.push(...event.locations.map((location) => location.driverId));
      }
      expect(appended.sort()).toEqual([...drivers].sort());
      // Requests that reach the function together are handled in a few turns of its event loop, not one each.
      expect(last - first + 1).toBeLessThan(drivers.length / 2);
      expect((await nearby()).map((d) => d.id).sort()).toEqual([...drivers].sort());
    });

    it("appends an offline update too, on the region's subject", async () => {
      expect((await send({ ...offset(BANGKOK, 100, 0), status: "offline" })).status).toBe(202);

      expect((await lastStreamed("th")).event.locations[0]).toMatchObject({ driverId: DRIVER, region: "th", status: "offline" });
      expect(await streamed()).toBe(1);
    });

    it("takes a driver who says offline out of the search results, keeping their last position", async () => {
      await send(HCMC);
      expect((await nearby()).map((d) => d.id)).toEqual([DRIVER]);
      const home = offset(HCMC, 500, 500);

      expect((await send({ ...home, status: "offline" })).status).toBe(202);

      expect(await nearby()).toEqual([]);
      expect((await storedPosition(DRIVER))!.slice(0, 2)).toEqual([home.lat, home.lng]);
    });

    it("stores an update recorded 31 s ago, but the driver is not available", async () => {
      const res = await send({ ...HCMC, recordedAt: new Date(Date.now() - 31_000).toISOString() });

      expect(res.status).toBe(202);
      expect(await storedPosition(DRIVER)).toBeDefined();
      expect(await nearby()).toEqual([]);
    });

    it("does not move a driver back for an update older than the last one", async () => {
      const recent = offset(HCMC, 100, 0);
      const recentAt = new Date(Date.now() - 5000).toISOString();
      await send({ ...recent, recordedAt: recentAt });

      await send({ ...offset(HCMC, 900, 0), recordedAt: new Date(Date.now() - 10_000).toISOString() });

      const [driver] = await nearby();
      expect(driver).toEqual({
        id: DRIVER,
        location: { lat: recent.lat, lng: recent.lng, recordedAt: recentAt, distanceMeters: expect.any(Number) },
      });
    });

    it("clamps a recordedAt in the future to now, so the next update still counts", async () => {
      const before = Date.now();
      await send({ ...HCMC, recordedAt: new Date(before + 3_600_000).toISOString() });
      const after = Date.now();

      const stored = (await storedPosition(DRIVER))![2]!;
      expect(stored).toBeGreaterThanOrEqual(before);
      expect(stored).toBeLessThanOrEqual(after);

      const next = offset(HCMC, 300, 0);
      await send(next);
      expect((await nearby())[0]!.location).toMatchObject({ lat: next.lat, lng: next.lng });
    });

    it("indexes a Bangkok driver in the th region", async () => {
      const at = offset(BANGKOK, 200, 0);

      expect((await send(at)).status).toBe(202);

      expect((await nearby(BANGKOK, "th")).map((d) => d.id)).toEqual([DRIVER]);
      expect(await storedPosition(DRIVER, "vn")).toBeUndefined();
    });
  });

  describe("bad input", () => {
    it("refuses malformed JSON with 400 malformed_json", async () => {
      await expectError(await send('{"lat": 10.77, "lng": '), 400, "malformed_json");
      await expectNothingWritten();
    });

    it("refuses a body that is not a JSON object with 400 invalid_body", async () => {
      for (const body of [JSON.stringify([HCMC]), '"10.77,106.70"', "null", "7"]) {
        await expectError(await send(body), 400, "invalid_body", body);
      }
      await expectNothingWritten();
    });

    it("refuses wrong types with 400 invalid_request naming the field", async () => {
      const cases: [string, unknown, string][] = [
        ["lat", "10.7769", "must be a number"],
        ["lng", true, "must be a number"],
        ["accuracy", "5", "must be a number"],
        ["status", 1, "must be a string"],
        ["recordedAt", Date.now(), "must be an ISO 8601 timestamp with a time zone"],
      ];
      for (const [field, value, issue] of cases) {
        const error = await expectError(await send({ ...HCMC, [field]: value }), 400, "invalid_request", field);
        expect(error.details, field).toEqual([{ field, issue }]);
      }
      await expectNothingWritten();
    });

    it("refuses an update without lat or lng, naming what is missing", async () => {
      const cases: [object, string[]][] = [
        [{ lng: HCMC.lng }, ["lat"]],
        [{ lat: HCMC.lat }, ["lng"]],
        [{ status: "available" }, ["lat", "lng"]],
      ];
      for (const [body, fields] of cases) {
        const error = await expectError(await send(body), 400, "invalid_request", JSON.stringify(body));
        expect(error.details).toEqual(fields.map((field) => ({ field, issue: "is required" })));
      }
      await expectNothingWritten();
    });

    it("refuses values out of range or not numbers", async () => {
      const cases: [string, unknown][] = [
        ["lat", 91],
        ["lng", -181],
        ["lat", "NaN"],
        ["lng", "Infinity"],
        ["heading", 361],
        ["speed", -1],
        ["accuracy", -0.5],
      ];
      for (const [field, value] of cases) {
        const label = `${field} = ${JSON.stringify(value)}`;
        const error = await expectError(await send({ ...HCMC, [field]: value }), 400, "invalid_request", label);
        expect(
          error.details.map((d) => d.field),
          label,
        ).toEqual([field]);
      }
      await expectNothingWritten();
    });

    it("refuses an unknown status or a recordedAt that is not an ISO timestamp", async () => {
      const cases: [string, string][] = [
        ["status", "busy"],
        ["status", "AVAILABLE"],
        ["recordedAt", "yesterday"],
        ["recordedAt", "2024-06-01"],
        ["recordedAt", "2024-13-01T00:00:00Z"],
      ];
      for (const [field, value] of cases) {
        const error = await expectError(await send({ ...HCMC, [field]: value }), 400, "invalid_request", value);
        expect(
          error.details.map((d) => d.field),
          value,
        ).toEqual([field]);
      }
      await expectNothingWritten();
    });

    it("refuses a position outside every service area with 422 outside_service_area", async () => {
      await expectError(await send(NOWHERE), 422, "outside_service_area");
      await expectNothingWritten();
    });

    it("refuses a body over 16 KiB, with or without Content-Length (413)", async () => {
      const body = oversized();
      const withLength = await fn.request(PATH, {
        method: "POST",
        headers: { ...bearer("driver", DRIVER), "content-type": "application/json", "content-length": String(body.length) },
        body,
      });
      await expectError(withLength, 413, "payload_too_large", "with Content-Length");

      const chunked = await fn.request(PATH, {
        method: "POST",
        headers: { ...bearer("driver", DRIVER), "content-type": "application/json" },
        body: chunkedBody(body).stream,
        duplex: "half",
      } as RequestInit);
      await expectError(chunked, 413, "payload_too_large", "chunked");
      await expectNothingWritten();
    });

    it("refuses other content types with 415 unsupported_media_type", async () => {
      const cases = [
        ["text/plain", JSON.stringify(HCMC)],
        ["application/x-www-form-urlencoded", `lat=${HCMC.lat}&lng=${HCMC.lng}`],
      ];
      for (const [type, body] of cases) {
        const res = await fn.request(PATH, { method: "POST", headers: { ...bearer("driver", DRIVER), "content-type": type! }, body });
        await expectError(res, 415, "unsupported_media_type", type);
      }
      await expectNothingWritten();
    });
  });

  describe("authentication", () => {
    it("answers 401 unauthorized without a valid token", async () => {
      const unsigned = (claims: object) => Buffer.from(JSON.stringify(claims)).toString("base64url");
      const exp = Math.floor(Date.now() / 1000) + 3600;
      const cases: [string, Record<string, string>][] = [
        ["no token", {}],
        ["an expired token", { authorization: `Bearer ${signToken(config.jwtSecret, { id: DRIVER, role: "driver" }, -1)}` }],
        ["a token signed with another secret", { authorization: `Bearer ${signToken("not-the-secret", { id: DRIVER, role: "driver" })}` }],
        ["an alg none token", { authorization: `Bearer ${unsigned({ alg: "none" })}.${unsigned({ sub: DRIVER, role: "driver", exp })}.` }],
      ];
      for (const [label, headers] of cases) await expectError(await send(HCMC, headers), 401, "unauthorized", label);
      await expectNothingWritten();
    });

    it("answers 403 forbidden to a rider", async () => {
      await expectError(await send(HCMC, bearer("rider", "rider-1")), 403, "forbidden");
      await expectNothingWritten();
    });
  });
});

describe("a dependency that goes away", () => {
  const proxies: TcpProxy[] = [];
  const closers: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.cut()));
  });

  async function relay(url: string): Promise<{ proxy: TcpProxy; url: string }> {
    const target = new URL(url);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
    proxies.push(proxy);
    target.port = String(proxy.port);
    return { proxy, url: target.toString() };
  }

  it("NATS down: answers 503 with Retry-After and leaves the geo-index as it was, then recovers", async () => {
    const { proxy, url } = await relay(config.natsUrl);
    const cutOff = new Nats(url, "update-location-nats-down", 1000);
    await cutOff.connected;
    closers.push(() => cutOff.close());
    const app = inProcess(updateLocationApp({ drivers, events: new LocationEvents(cutOff), jwtSecret: config.jwtSecret }), [cutOff]);
    const post = (at: { lat: number; lng: number }) => app.json("POST", PATH, at, bearer("driver", DRIVER));
    expect((await post(HCMC)).status).toBe(202);

    await proxy.cut();
    const moved = offset(HCMC, 800, 0);
    const down = await post(moved);

    await expectError(down, 503, "service_unavailable");
    expect(down.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await storedPosition(DRIVER))!.slice(0, 2)).toEqual([HCMC.lat, HCMC.lng]);
    expect(await streamed()).toBe(1);

    await proxy.open();
    await waitFor(async () => (await post(moved)).status === 202, 15_000, "update-location to recover");
    expect((await storedPosition(DRIVER))!.slice(0, 2)).toEqual([moved.lat, moved.lng]);
  });

  it("Redis down after the update is stored: 503, and the driver's retry is a duplicate in the stream that moves the index", async () => {
    const { proxy, url } = await relay(config.redisUrl);
    const cutOff = connectRedis(url, 1000);
    closers.push(() => cutOff.quit().catch(() => cutOff.disconnect()));
    await waitFor(async () => (await cutOff.ping()) === "PONG", 5000, "redis through the proxy");
    const app = inProcess(
      updateLocationApp({
        drivers: new DriverIndex(cutOff, config.driverFreshMs),
        events: new LocationEvents(nats),
        jwtSecret: config.jwtSecret,
      }),
    );
    const update = { ...HCMC, recordedAt: new Date(Date.now() - 1000).toISOString() };
    const post = () => app.json("POST", PATH, update, bearer("driver", DRIVER));

    await proxy.cut();
    await expectError(await post(), 503, "service_unavailable");
    expect(await storedPosition(DRIVER)).toBeUndefined();

    await proxy.open();
    await waitFor(async () => (await post()).status === 202, 10_000, "update-location to recover");
    expect(await streamed()).toBe(1);
    expect((await nearby()).map((d) => d.id)).toEqual([DRIVER]);
  });
});

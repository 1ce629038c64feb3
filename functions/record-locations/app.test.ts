// record-locations on the real PostgreSQL shards: drivers.location CloudEvents in, history rows out, in batches.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig, type Config } from "../../shared/config";
import type { LocationHistory } from "../../shared/drivers/location-history";
import { MAX_LOCATIONS_PER_EVENT, type LocationEvent, type LocationEventV1 } from "../../shared/events/location-events";
import type { DriverLocation } from "../../shared/drivers/driver";
import type { CloudEvent } from "../../shared/cloudevents/event";
import { toBatch, toBinary } from "../../shared/cloudevents/http-binding";
import { BATCH_CONTENT_TYPE, EXTENSIONS, HEADERS, SPEC_VERSION } from "../../shared/cloudevents/spec";
import { DRIVER_LOCATION_TYPE, TRIP_REQUESTED_TYPE } from "../../shared/cloudevents/types";
import { expectError } from "../../tests/support/http";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { HistoryTables } from "../../tests/support/location-history";
import { BANGKOK, HCMC, offset } from "../../harness/places";
import { waitFor } from "../../harness/processes";
import { TcpProxy } from "../../harness/tcp-proxy";
import { MAX_LOCATION_BATCH_BYTES, recordLocationsApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const tables = new HistoryTables();
const opened: LocationHistory[] = [];

/** The function over its own history writer; batches as configured unless told otherwise. */
function recordLocations(overrides: Partial<Config> = {}): TestFunction {
  const { deps, history, handles } = connectDependencies({ ...config, ...overrides });
  opened.push(history);
  return inProcess(recordLocationsApp(deps), handles);
}

let fn: TestFunction;
beforeAll(() => {
  fn = recordLocations();
});
afterAll(async () => {
  await Promise.all(opened.flatMap((history) => history.handles().map((handle) => handle.close())));
  await tables.close();
});
beforeEach(() => tables.clear());

// An hour ago, to the second: a position the history takes (at most a day old).
const BASE_TIME = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

function location(n: number, overrides: Partial<DriverLocation> = {}): DriverLocation {
  return {
    driverId: `driver-${n % 7}`,
    region: "vn",
    ...offset(HCMC, n * 10, 0),
    status: "available",
    recordedAt: BASE_TIME + n * 1000,
    ...overrides,
  };
}

const asEventLocation = (loc: DriverLocation) => ({ ...loc, recordedAt: new Date(loc.recordedAt).toISOString() });

/** An event as update-location appends it, carrying the updates it accepted together. */
function eventBody(...locs: DriverLocation[]): LocationEvent {
  return { schemaVersion: 2, type: DRIVER_LOCATION_TYPE, time: new Date().toISOString(), locations: locs.map(asEventLocation) };
}

/** The event with its first update changed: a wrong value at any place in the list refuses the event. */
function withLocation(event: LocationEvent, change: Record<string, unknown>): object {
  return { ...event, locations: [event.locations[0], { ...event.locations[0], driverId: "second", ...change }] };
}

/** What the JetStream source sends for one drivers.location message. */
function deliver(body: unknown, headers: Record<string, string> = {}, to = fn): Promise<Response> {
  const attributes = { id: "m-1", source: "nats://jetstream/DRIVER_LOCATIONS", type: DRIVER_LOCATION_TYPE, subject: "drivers.location.vn" };
  const event = toBinary(attributes, "application/json", typeof body === "string" ? body : JSON.stringify(body));
  return to.request("/", { method: "POST", headers: { ...event.headers, ...headers }, body: event.body });
}

/** What the JetStream source sends for drivers.location messages with batching on: one request, one event each. */
function deliverBatch(bodies: unknown[], to = fn, overrides: (i: number) => Partial<CloudEvent> = () => ({})): Promise<Response> {
  const events = bodies.map((data, i): CloudEvent => ({
    specversion: SPEC_VERSION,
    id: `b-${i}`,
    source: "nats://jetstream/DRIVER_LOCATIONS",
    type: DRIVER_LOCATION_TYPE,
    subject: "drivers.location.vn",
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data,
    [EXTENSIONS.deliveries]: "1",
    ...overrides(i),
  }));
  return to.request("/", { method: "POST", ...toBatch(events) });
}

describe("POST / (drivers.location)", () => {
  it("records the update in its region's shard once it is committed, and says so", async () => {
    const loc = location(1, { accuracy: 12.5, heading: 90, speed: 7.5 });

    const response = await deliver(eventBody(loc));

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ recorded: 1, duplicate: 0 });
    const [row] = await tables.rows("vn");
    expect(row).toMatchObject({
      driver_id: loc.driverId,
      recorded_at: new Date(loc.recordedAt),
      lat: loc.lat,
      lng: loc.lng,
      accuracy: 12.5,
      heading: 90,
      speed: 7.5,
      status: "available",
    });
    expect(await tables.count("th")).toBe(0);
  });

  it("records every update an event carries, in one INSERT", async () => {
    const locs = Array.from({ length: 64 }, (_, i) => location(i, { driverId: `driver-${i}` }));

    const response = await deliver(eventBody(...locs));

    expect(await response.json()).toEqual({ recorded: 64, duplicate: 0 });
    const rows = await tables.rows("vn");
    expect(rows.map((row) => row.driver_id).sort()).toEqual(locs.map((loc) => loc.driverId).sort());
    expect(new Set(rows.map((row) => row.xmin)).size).toBe(1);
  });

  it("still records an event of version 1, one update each, as appended before an upgrade", async () => {
    const loc = location(1);
    const v1: LocationEventV1 = {
      schemaVersion: 1,
      type: DRIVER_LOCATION_TYPE,
      time: new Date().toISOString(),
      location: asEventLocation(loc),
    };

    expect(await (await deliver(v1)).json()).toEqual({ recorded: 1, duplicate: 0 });
    expect(await (await deliverBatch([v1])).json()).toEqual({ recorded: 0, duplicate: 1 });
    expect((await tables.rows("vn")).map((row) => row.driver_id)).toEqual([loc.driverId]);
  });

  it("commits the requests that arrive together in one INSERT per region shard", async () => {
    // A wait long enough that a slow machine still sees the burst as arriving together.
    const patient = recordLocations({ locationBatchWaitMs: 500 });
    const vn = Array.from({ length: 40 }, (_, i) => location(i));
    const th = Array.from({ length: 25 }, (_, i) => location(i, { region: "th", ...offset(BANGKOK, i * 10, 0), status: "offline" }));

    const answers = await Promise.all([...vn, ...th].map((loc) => deliver(eventBody(loc), {}, patient)));

    expect(answers.map((res) => res.status)).toEqual(Array(65).fill(200));
    // Every answer came after its commit, so the rows are there now, all inserted by one transaction.
    for (const [region, expected] of [
      ["vn", 40],
      ["th", 25],
    ] as const) {
      const rows = await tables.rows(region);
      expect(rows, region).toHaveLength(expected);
      expect(new Set(rows.map((row) => row.xmin)).size, region).toBe(1);
    }
  });

  it("splits a burst into batches of at most LOCATION_BATCH_MAX rows", async () => {
    const small = recordLocations({ locationBatchMax: 10, locationBatchWaitMs: 1000 });
    const started = performance.now();

    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => deliver(eventBody(location(i)), {}, small)));

    expect(answers.map((res) => res.status)).toEqual(Array(30).fill(200));
    // Full batches are written at once, without waiting out LOCATION_BATCH_WAIT_MS.
    expect(performance.now() - started).toBeLessThan(1000);
    const rows = await tables.rows("vn");
    expect(rows).toHaveLength(30);
    expect(new Set(rows.map((row) => row.xmin)).size).toBe(3);
  });

  it("adds no row for a redelivered event, even one delivered twice in the same batch", async () => {
    const first = location(1);
    await deliver(eventBody(first));

    const again = await deliver(eventBody(first));
    expect(await again.json()).toEqual({ recorded: 0, duplicate: 1 });

    const twin = location(2);
    const outcomes = await Promise.all([deliver(eventBody(twin)), deliver(eventBody(twin)), deliver(eventBody(twin))]);
    const said = await Promise.all(outcomes.map(async (res) => ((await res.json()) as { recorded: number }).recorded));
    expect(said.sort()).toEqual([0, 0, 1]);
    expect(await tables.count()).toBe(2);
  });

  it("refuses with 400 what is not a drivers.location event this version understands, and records nothing", async () => {
    const good = eventBody(location(1));
    const cases: [string, Response][] = [
      ["not a CloudEvent", await deliver(good, { [HEADERS.specversion]: "0.3" })],
      ["another CloudEvent type", await deliver(good, { [HEADERS.type]: TRIP_REQUESTED_TYPE })],
      ["malformed JSON", await deliver('{"schemaVersion": 1, "type": ')],
      ["not an object", await deliver("[1, 2]")],
      ["an unknown schema version", await deliver({ ...good, schemaVersion: 99 })],
      ["an unknown event type", await deliver({ ...good, type: "drivers.teleported" })],
      ["no locations", await deliver({ ...good, locations: "here" })],
      ["no update in the locations", await deliver({ ...good, locations: [] })],
      [
        "more updates than an event carries",
        await deliver(eventBody(...Array.from({ length: MAX_LOCATIONS_PER_EVENT + 1 }, (_, i) => location(i)))),
      ],
      ["a location that is not an object", await deliver({ ...good, locations: [...good.locations, "here"] })],
      [
        "a version 1 event without its location",
        await deliver({ schemaVersion: 1, type: DRIVER_LOCATION_TYPE, time: good.time, locations: good.locations }),
      ],
      ["no lat", await deliver(withLocation(good, { lat: undefined }))],
      ["lng out of range", await deliver(withLocation(good, { lng: 181 }))],
      ["an unknown region", await deliver(withLocation(good, { region: "us" }))],
      ["an unknown status", await deliver(withLocation(good, { status: "busy" }))],
      ["a recordedAt that is not a timestamp", await deliver(withLocation(good, { recordedAt: 1_700_000_000_000 }))],
      ["a driverId with NUL", await deliver(withLocation(good, { driverId: "d\u0000" }))],
      ["a driverId with an unpaired surrogate", await deliver(withLocation(good, { driverId: "d\ud800" }))],
    ];
    for (const [label, response] of cases) {
      expect(response.status, label).toBe(400);
      await expectError(response, 400, expect.any(String) as unknown as string, label);
    }
    expect(await tables.count()).toBe(0);

    // A bad event in the same burst as good ones costs only itself.
    const mixed = await Promise.all([deliver(good), deliver({ ...good, schemaVersion: 3 }), deliver(eventBody(location(2)))]);
    expect(mixed.map((res) => res.status)).toEqual([200, 400, 200]);
    expect(await tables.count()).toBe(2);
  });

  describe("a batch of events (CloudEvents batched content mode)", () => {
    it("records every event of the batch in its region's shard, one INSERT per shard, and answers with the counts", async () => {
      const vn = Array.from({ length: 30 }, (_, i) => location(i));
      const th = Array.from({ length: 20 }, (_, i) => location(i, { region: "th", ...offset(BANGKOK, i * 10, 0) }));

      const response = await deliverBatch([...vn, ...th].map((loc) => eventBody(loc)));

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ recorded: 50, duplicate: 0 });
      for (const [region, expected] of [
        ["vn", vn],
        ["th", th],
      ] as const) {
        const rows = await tables.rows(region);
        expect(rows.map((row) => row.recorded_at.getTime()).sort(), region).toEqual(expected.map((loc) => loc.recordedAt).sort());
        expect(new Set(rows.map((row) => row.xmin)).size, region).toBe(1);
      }
    });

    it("counts the events it already had, and an event twice in the batch, as duplicates", async () => {
      await deliver(eventBody(location(1)));

      const response = await deliverBatch([location(1), location(2), location(2), location(3)].map((loc) => eventBody(loc)));

      expect(await response.json()).toEqual({ recorded: 2, duplicate: 2 });
      expect(await tables.count()).toBe(3);
    });

    it("refuses with 400 a batch holding any event it cannot record, naming those events, and records none of it", async () => {
      const good = eventBody(location(1));
      const response = await deliverBatch(
        [good, { ...good, schemaVersion: 3 }, eventBody(location(2)), withLocation(good, { lat: 91 }), eventBody(location(3))],
        fn,
        (i) => (i === 4 ? { type: TRIP_REQUESTED_TYPE } : {}),
      );

      const error = await expectError(response, 400, "invalid_events");
      expect(error.details.map((detail) => detail.field)).toEqual(["b-1", "b-3", "b-4"]);
      expect(error.message).toContain("b-1, b-3, b-4");
      expect(await tables.count()).toBe(0);
    });

    it("refuses with 400 what is not a batch of CloudEvents 1.0, and with 413 one past the batch limit", async () => {
      const request = (body: string) => fn.request("/", { method: "POST", headers: { "content-type": BATCH_CONTENT_TYPE }, body });
      const good = { specversion: SPEC_VERSION, id: "x", source: "s", type: DRIVER_LOCATION_TYPE, data: eventBody(location(1)) };
      const cases: [string, Response, string][] = [
        ["malformed JSON", await request("[{"), "malformed_json"],
        ["not an array", await request(JSON.stringify(good)), "invalid_body"],
        ["an event of another spec version", await request(JSON.stringify([good, { ...good, specversion: "0.3" }])), "not_a_cloudevent"],
        ["an event without id", await request(JSON.stringify([{ ...good, id: undefined }])), "not_a_cloudevent"],
        ["data that is not an object", await deliverBatch(["here"]), "invalid_events"],
        [
          "data that is not JSON",
          await deliverBatch([eventBody(location(1))], fn, () => ({ datacontenttype: "text/plain" })),
          "invalid_events",
        ],
      ];
      for (const [label, response, code] of cases) await expectError(response, 400, code, label);

      const eventBytes = JSON.stringify(eventBody(location(1))).length;
      const many = Array.from({ length: Math.ceil(MAX_LOCATION_BATCH_BYTES / eventBytes) + 1 }, (_, i) => eventBody(location(i)));
      await expectError(await deliverBatch(many), 413, "payload_too_large");
      expect(await tables.count()).toBe(0);
    });

    it("takes event data as base64 too, as a structured event may carry it", async () => {
      const data_base64 = Buffer.from(JSON.stringify(eventBody(location(1)))).toString("base64");
      const response = await deliverBatch([undefined], fn, () => ({ data: undefined, data_base64 }));

      expect(await response.json()).toEqual({ recorded: 1, duplicate: 0 });
    });
  });

  describe("PostgreSQL down", () => {
    let proxy: TcpProxy;
    afterEach(() => proxy.cut());

    it("answers 503 with Retry-After so the source retries, then records once it is back", async () => {
      proxy = await TcpProxy.start({ host: "127.0.0.1", port: 5432 });
      const through = (url: string) => url.replace(":5432/", `:${proxy.port}/`);
      const cutOff = recordLocations({
        shards: { vn: { primaryUrl: through(config.shards.vn.primaryUrl) }, th: { primaryUrl: through(config.shards.th.primaryUrl) } },
        dependencyTimeoutMs: 1000,
      });
      const loc = eventBody(location(1));
      expect((await deliver(loc, {}, cutOff)).status).toBe(200);

      await proxy.cut();
      const next = eventBody(location(2));
      const down = await Promise.all(
        [1, 2, 3, 6, 30].map((delivery, i) => deliver(eventBody(location(10 + i)), { [HEADERS.deliveries]: String(delivery) }, cutOff)),
      );
      // Twice as long after each failed delivery, so an outage of minutes does not use up max_deliver.
      expect(down.map((response) => response.headers.get("retry-after"))).toEqual(["1", "2", "4", "30", "30"]);
      for (const response of down) await expectError(response, 503, "service_unavailable");
      // A batch backs off by its most delivered event.
      const batch = await deliverBatch([eventBody(location(20)), eventBody(location(21))], cutOff, (i) => ({
        [EXTENSIONS.deliveries]: String(i + 3),
      }));
      expect(batch.headers.get("retry-after")).toBe("8");
      await expectError(batch, 503, "service_unavailable");

      await proxy.open();
      await waitFor(async () => (await deliver(next, {}, cutOff)).status === 200, 15_000, "record-locations to recover");
      expect((await tables.rows("vn")).map((row) => row.recorded_at.getTime())).toEqual([location(1).recordedAt, location(2).recordedAt]);
    });
  });
});

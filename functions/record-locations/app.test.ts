// record-locations on the real PostgreSQL shards: drivers.location CloudEvents in, history rows out, in batches.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig, type Config } from "../../shared/config";
import { LocationHistory } from "../../shared/drivers/location-history";
import type { DriverLocation, LocationEvent } from "../../shared/events/location-events";
import { expectError } from "../../tests/support/http";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { HistoryTables } from "../../tests/support/location-history";
import { BANGKOK, HCMC, offset } from "../../tests/support/places";
import { freePort, waitFor } from "../../tests/support/processes";
import { TcpProxy } from "../../tests/support/tcp-proxy";
import { recordLocationsApp } from "./app";

const config = loadConfig();
const tables = new HistoryTables();
const opened: LocationHistory[] = [];

/** The function over its own history writer; batches as configured unless told otherwise. */
function recordLocations(overrides: Partial<Config> = {}): TestFunction {
  const history = LocationHistory.connect({ ...config, ...overrides });
  opened.push(history);
  return inProcess(recordLocationsApp({ history }), history.handles());
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

const BASE_TIME = Date.UTC(2026, 10, 21, 8, 0, 0);

function location(n: number, overrides: Partial<DriverLocation> = {}): DriverLocation {
  return { driverId: `driver-${n % 7}`, region: "vn", ...offset(HCMC, n * 10, 0), status: "available", recordedAt: BASE_TIME + n * 1000, ...overrides };
}

function eventBody(loc: DriverLocation): LocationEvent {
  return { schemaVersion: 1, type: "drivers.location", time: new Date().toISOString(), location: { ...loc, recordedAt: new Date(loc.recordedAt).toISOString() } };
}

/** What the JetStream source sends for one drivers.location message. */
function deliver(body: unknown, headers: Record<string, string> = {}, to = fn): Promise<Response> {
  return to.request("/", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": "m-1",
      "ce-source": "nats://jetstream/DRIVER_LOCATIONS",
      "ce-type": "drivers.location",
      "ce-subject": "drivers.location.vn",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("POST / (drivers.location)", () => {
  it("records the update in its region's shard once it is committed, and says so", async () => {
    const loc = location(1, { accuracy: 12.5, heading: 90, speed: 7.5 });

    const response = await deliver(eventBody(loc));

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ driverId: loc.driverId, recordedAt: new Date(loc.recordedAt).toISOString(), outcome: "recorded" });
    const [row] = await tables.rows("vn");
    expect(row).toMatchObject({ driver_id: loc.driverId, recorded_at: new Date(loc.recordedAt), lat: loc.lat, lng: loc.lng, accuracy: 12.5, heading: 90, speed: 7.5, status: "available" });
    expect(await tables.count("th")).toBe(0);
  });

  it("commits the requests that arrive together in one INSERT per region shard", async () => {
    // A wait long enough that a slow machine still sees the burst as arriving together.
    const patient = recordLocations({ locationBatchWaitMs: 500 });
    const vn = Array.from({ length: 40 }, (_, i) => location(i));
    const th = Array.from({ length: 25 }, (_, i) => location(i, { region: "th", ...offset(BANGKOK, i * 10, 0), status: "offline" }));

    const answers = await Promise.all([...vn, ...th].map((loc) => deliver(eventBody(loc), {}, patient)));

    expect(answers.map((res) => res.status)).toEqual(Array(65).fill(200));
    // Every answer came after its commit, so the rows are there now, all inserted by one transaction.
    for (const [region, expected] of [["vn", 40], ["th", 25]] as const) {
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
    expect(await again.json()).toMatchObject({ outcome: "duplicate" });

    const twin = location(2);
    const outcomes = await Promise.all([deliver(eventBody(twin)), deliver(eventBody(twin)), deliver(eventBody(twin))]);
    const said = await Promise.all(outcomes.map(async (res) => ((await res.json()) as { outcome: string }).outcome));
    expect(said.sort()).toEqual(["duplicate", "duplicate", "recorded"]);
    expect(await tables.count()).toBe(2);
  });

  it("refuses with 400 what is not a drivers.location event this version understands, and records nothing", async () => {
    const good = eventBody(location(1));
    const cases: [string, Response][] = [
      ["not a CloudEvent", await deliver(good, { "ce-specversion": "0.3" })],
      ["another CloudEvent type", await deliver(good, { "ce-type": "trips.requested" })],
      ["malformed JSON", await deliver('{"schemaVersion": 1, "type": ')],
      ["not an object", await deliver("[1, 2]")],
      ["an unknown schema version", await deliver({ ...good, schemaVersion: 99 })],
      ["an unknown event type", await deliver({ ...good, type: "drivers.teleported" })],
      ["no location", await deliver({ ...good, location: "here" })],
      ["no lat", await deliver({ ...good, location: { ...good.location, lat: undefined } })],
      ["lng out of range", await deliver({ ...good, location: { ...good.location, lng: 181 } })],
      ["an unknown region", await deliver({ ...good, location: { ...good.location, region: "us" } })],
      ["an unknown status", await deliver({ ...good, location: { ...good.location, status: "busy" } })],
      ["a recordedAt that is not a timestamp", await deliver({ ...good, location: { ...good.location, recordedAt: 1_700_000_000_000 } })],
      ["a driverId with NUL", await deliver({ ...good, location: { ...good.location, driverId: "d\u0000" } })],
    ];
    for (const [label, response] of cases) {
      expect(response.status, label).toBe(400);
      await expectError(response, 400, expect.any(String) as unknown as string, label);
    }
    expect(await tables.count()).toBe(0);

    // A bad event in the same burst as good ones costs only itself.
    const mixed = await Promise.all([deliver(good), deliver({ ...good, schemaVersion: 2 }), deliver(eventBody(location(2)))]);
    expect(mixed.map((res) => res.status)).toEqual([200, 400, 200]);
    expect(await tables.count()).toBe(2);
  });

  describe("PostgreSQL down", () => {
    let proxy: TcpProxy;
    afterEach(() => proxy.cut());

    it("answers 503 with Retry-After so the source retries, then records once it is back", async () => {
      proxy = new TcpProxy(await freePort(), { host: "127.0.0.1", port: 5432 });
      await proxy.open();
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
        [1, 2, 3, 6, 30].map((delivery, i) => deliver(eventBody(location(10 + i)), { "ce-natsdeliveries": String(delivery) }, cutOff)),
      );
      // Twice as long after each failed delivery, so an outage of minutes does not use up max_deliver.
      expect(down.map((response) => response.headers.get("retry-after"))).toEqual(["1", "2", "4", "30", "30"]);
      for (const response of down) await expectError(response, 503, "service_unavailable");

      await proxy.open();
      await waitFor(async () => (await deliver(next, {}, cutOff)).status === 200, 15_000, "record-locations to recover");
      expect((await tables.rows("vn")).map((row) => row.recorded_at.getTime())).toEqual([location(1).recordedAt, location(2).recordedAt]);
    });
  });
});

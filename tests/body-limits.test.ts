// Every receiver reads at most what it takes: a trip event (16 KiB), a location event at its largest, a batch of the
// 32 its source sends, a ping. Past that: 413 at once, the rest left unread, and the connection closed after the
// answer, without a reset that would lose it. Against the real stack.
import { beforeEach, describe, expect, it } from "vitest";
import { MAX_LOCATION_BATCH_BYTES } from "../functions/record-locations/app";
import type { Stack } from "../local/stack";
import { SOURCE_SETTINGS } from "../shared/config";
import { binaryHeaders } from "../shared/cloudevents/http-binding";
import { BATCH_CONTENT_TYPE } from "../shared/cloudevents/spec";
import { DRIVER_LOCATION_TYPE, PING_TYPE, TRIP_DEAD_LETTER_TYPE, TRIP_REQUESTED_TYPE } from "../shared/cloudevents/types";
import { MAX_LOCATIONS_PER_EVENT, MAX_LOCATION_EVENT_BYTES, locationEventId, type LocationEvent } from "../shared/events/location-events";
import { locationKey } from "../shared/drivers/driver";
import { MAX_PING_BYTES } from "../shared/events/schedules";
import { MAX_TRIP_EVENT_BYTES } from "../shared/events/trip-events";
import { SENDER_HEADER } from "../shared/http/internal-sender";
import { MAX_BODY_BYTES } from "../shared/http/json-body";
import { structuredCloudEvent } from "../sources/jetstream/cloudevent";
import { bearer } from "./support/auth";
import { HCMC } from "../harness/places";
import { rawRequest } from "./support/raw-http";
import { stackPerFile } from "./support/stack-per-file";

const run = stackPerFile(27680);
const { tables } = run;
let stack: Stack;
beforeEach(() => {
  stack = run.stack;
});

/** The largest location event update-location can produce, as the source puts it in a batch: the n-th of a batch. */
function largestLocationEvent(n: number) {
  const now = Date.now();
  const locations = Array.from({ length: MAX_LOCATIONS_PER_EVENT }, (_, i) => ({
    // 128 characters of 3 bytes in UTF-8, printable, and distinct per update so each is a row of its own.
    driverId: `${String(n).padStart(4, "0")}${String(i).padStart(2, "0")}${"\u0800".repeat(122)}`,
    region: "vn" as const,
    status: "available" as const,
    lat: HCMC.lat + 0.000012345678901234,
    lng: HCMC.lng + 0.000012345678901234,
    accuracy: 9999.123456789012,
    heading: 359.12345678901234,
    speed: 99.12345678901234,
    recordedAt: new Date(now - 1000).toISOString(),
  }));
  const data: LocationEvent = { schemaVersion: 2, type: DRIVER_LOCATION_TYPE, time: new Date(now).toISOString(), locations };
  const text = JSON.stringify(data);
  const msg = {
    info: { stream: "DRIVER_LOCATIONS", streamSequence: 123_456_789_012, deliveryCount: 30 },
    headers: {
      get: (name: string) =>
        name === "Nats-Msg-Id" ? locationEventId(locations.map((l) => locationKey({ ...l, recordedAt: now - 1000 }))) : "",
    },
    subject: "drivers.location.vn",
    time: new Date(now),
    data: Buffer.from(text),
    string: () => text,
  };
  return structuredCloudEvent(msg as never, {})!;
}

const ce = (type: string) => binaryHeaders({ id: "e-1", source: "test", type }, "application/json");

describe("sized to what each receiver takes", () => {
  it("a batch of 32 location events at their largest fits, and record-locations takes it", async () => {
    const batchMax = Number(SOURCE_SETTINGS["record-locations"]!.SOURCE_BATCH_MAX);
    expect(batchMax).toBe(32);
    const one = Buffer.byteLength(JSON.stringify(largestLocationEvent(0)));
    expect(one).toBeLessThanOrEqual(MAX_LOCATION_EVENT_BYTES);
    const batch = JSON.stringify(Array.from({ length: batchMax }, (_, n) => largestLocationEvent(n)));
    expect(Buffer.byteLength(batch)).toBeLessThanOrEqual(MAX_LOCATION_BATCH_BYTES);

    const response = await fetch(`http://127.0.0.1:${stack.ports["record-locations"]}/`, {
      method: "POST",
      headers: { "content-type": BATCH_CONTENT_TYPE, [SENDER_HEADER]: stack.internalSecret },
      body: batch,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ recorded: batchMax * MAX_LOCATIONS_PER_EVENT, duplicate: 0 });
    expect(await tables.count("vn")).toBe(batchMax * MAX_LOCATIONS_PER_EVENT);
  });

  const cases = [
    { name: "assign-driver", path: "/", headers: ce(TRIP_REQUESTED_TYPE), limit: MAX_TRIP_EVENT_BYTES },
    { name: "settle-dead-letters", path: "/", headers: ce(TRIP_DEAD_LETTER_TYPE), limit: MAX_TRIP_EVENT_BYTES },
    { name: "settle-dead-letters", path: "/forgotten-trips", headers: ce(PING_TYPE), limit: MAX_PING_BYTES },
    { name: "record-locations", path: "/", headers: ce(DRIVER_LOCATION_TYPE), limit: MAX_LOCATION_EVENT_BYTES },
    { name: "record-locations", path: "/", headers: { "content-type": BATCH_CONTENT_TYPE }, limit: MAX_LOCATION_BATCH_BYTES },
  ];

  it("one byte past its limit, each receiver answers 413 in the error shape and writes nothing", async () => {
    for (const { name, path, headers, limit } of cases) {
      const response = await fetch(`http://127.0.0.1:${stack.ports[name]}${path}`, {
        method: "POST",
        headers: { ...headers, [SENDER_HEADER]: stack.internalSecret },
        body: " ".repeat(limit + 1),
      });
      expect(response.status, `${name} ${path}`).toBe(413);
      expect(await response.json(), `${name} ${path}`).toEqual({
        error: { code: "payload_too_large", message: `The request body must be at most ${limit} bytes`, details: [] },
      });
    }
    expect(await tables.count()).toBe(0);
  });
});

describe("an early refusal", () => {
  const head = (port: number, path: string, headers: Record<string, string>, framing: string) =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")}${framing}\r\n`;

  it("answers 413 before the body has arrived and closes the connection cleanly, declared or chunked, at a receiver and through the entry point", async () => {
    const rider = { ...bearer("rider", "rider-big"), "content-type": "application/json" };
    const targets = [
      {
        label: "record-locations",
        port: stack.ports["record-locations"]!,
        path: "/",
        headers: { ...ce(DRIVER_LOCATION_TYPE), [SENDER_HEADER]: stack.internalSecret },
      },
      {
        label: "assign-driver",
        port: stack.ports["assign-driver"]!,
        path: "/",
        headers: { ...ce(TRIP_REQUESTED_TYPE), [SENDER_HEADER]: stack.internalSecret },
      },
      { label: "create-trip", port: stack.ports["create-trip"]!, path: "/v1/trips", headers: rider },
      { label: "the entry point", port: stack.ports.gateway!, path: "/v1/trips", headers: rider },
    ];
    const total = 64 * 1024 * 1024;
    for (const target of targets) {
      for (const framing of [`Content-Length: ${total}\r\n`, "Transfer-Encoding: chunked\r\n"]) {
        const label = `${target.label}, ${framing.trim()}`;
        const exchange = await rawRequest(target.port, head(target.port, target.path, target.headers, framing), {
          bodyBytes: total,
          chunked: framing.startsWith("Transfer"),
        });
        expect(exchange.status, label).toBe(413);
        expect(JSON.parse(exchange.body), label).toMatchObject({ error: { code: "payload_too_large", details: [] } });
        expect(exchange.headers.connection, label).toBe("close");
        // Closed with a FIN once the answer was out, long before 64 MiB could have been sent.
        expect(exchange.ended, label).toBe("fin");
        expect(exchange.endedMs, label).toBeLessThan(2_500);
        expect(exchange.bodyBytesSent, label).toBeLessThan(total);
      }
    }
  });

  it("a 401 before reading a large body closes the same way, and the next request on a fresh connection is answered", async () => {
    const port = stack.ports.gateway!;
    const exchange = await rawRequest(
      port,
      head(port, "/v1/trips", { "content-type": "application/json" }, "Content-Length: 67108864\r\n"),
      { bodyBytes: 64 * 1024 * 1024 },
    );
    expect(exchange.status).toBe(401);
    expect(JSON.parse(exchange.body)).toMatchObject({ error: { code: "unauthorized", details: [] } });
    expect(exchange.ended).toBe("fin");
    expect(exchange.endedMs).toBeLessThan(2_500);
    const next = await fetch(`${stack.gatewayUrl}/health/liveness`);
    expect(next.status).toBe(200);
  });

  it("a body within the limit on the same kind of connection is taken as before", async () => {
    const response = await fetch(`${stack.gatewayUrl}/v1/trips`, {
      method: "POST",
      headers: { ...bearer("rider", "rider-small"), "content-type": "application/json" },
      body: JSON.stringify({
        originText: "a".repeat(400),
        destText: "b",
        serviceId: "car",
        originLat: HCMC.lat,
        originLng: HCMC.lng,
        destLat: HCMC.lat,
        destLng: HCMC.lng,
        note: "x".repeat(MAX_BODY_BYTES - 1_000),
      }),
    });
    expect(response.status).toBe(201);
  });
});

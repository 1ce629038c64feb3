// Location history end to end: updates in through update-location, rows out of record-locations, every
// function and the JetStream source as their own processes over the real NATS and PostgreSQL. The source
// delivers to record-locations in batches, as configured for it in SOURCE_SETTINGS.
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../local/stack";
import { DRIVER_LOCATION_TYPE } from "../shared/cloudevents/types";
import { deadLetterSubject, DEAD_LETTER_HEADERS } from "../shared/events/dead-letter";
import { type LocationEvent } from "../shared/events/location-events";
import { locationKey } from "../shared/drivers/driver";
import type { LatLng } from "../shared/geo";
import { bearer } from "./support/auth";
import { HistoryTables } from "./support/location-history";
import { BANGKOK, HCMC, randomPointNear, seededRandom } from "../harness/places";
import { waitFor } from "../harness/processes";
import { resetState } from "../harness/state";
import { consumerBacklog } from "../harness/streams";
import { TEST_PORT_OFFSET } from "./support/test-env";
import { fileLogDir } from "./support/process-watch";

const STREAM = "DRIVER_LOCATIONS";
const CONSUMER = "record-locations";
const DEAD = deadLetterSubject(STREAM, CONSUMER);

let stack: Stack;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const tables = new HistoryTables();

beforeAll(async () => {
  // Batches wait long enough that killing record-locations while messages are acked-pending catches them mid-batch.
  stack = await startStack({
    basePort: 28480 + TEST_PORT_OFFSET,
    build: false,
    logDir: fileLogDir(),
    env: { LOCATION_BATCH_WAIT_MS: "150" },
  });
  nc = await connect({ servers: process.env.NATS_URL! });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await stack?.stop();
  await tables.close();
});
beforeEach(async () => {
  await resetState();
  // What the source took before the purge (earlier files' updates) must be written before the table is emptied.
  await waitFor(consumerIdle, 10_000, "the recorder to finish what it had");
  await tables.clear();
});

interface Sent {
  driverId: string;
  recordedAt: number;
  at: LatLng;
}

async function report(update: Sent): Promise<void> {
  const response = await fetch(`${stack.gatewayUrl}/v1/drivers/me/location`, {
    method: "POST",
    headers: { ...bearer("driver", update.driverId), "content-type": "application/json" },
    body: JSON.stringify({ ...update.at, recordedAt: new Date(update.recordedAt).toISOString() }),
  });
  expect(response.status).toBe(202);
}

/** `perDriver` updates from each of `drivers` drivers, half in Ho Chi Minh City and half in Bangkok, sent 16 at a time. */
async function reportMany(drivers: number, perDriver: number): Promise<Sent[]> {
  const random = seededRandom(7);
  const start = Date.now() - perDriver * 1000;
  const updates: Sent[] = [];
  for (let d = 0; d < drivers; d++) {
    for (let k = 0; k < perDriver; k++) {
      updates.push({ driverId: `driver-${d}`, recordedAt: start + k * 1000, at: randomPointNear(d % 2 ? BANGKOK : HCMC, 3000, random) });
    }
  }
  for (let i = 0; i < updates.length; i += 16) await Promise.all(updates.slice(i, i + 16).map(report));
  return updates;
}

async function consumerIdle(): Promise<boolean> {
  return (await consumerBacklog(jsm, STREAM, CONSUMER)) === 0;
}

async function recordedKeys(): Promise<string[]> {
  const rows = [...(await tables.rows("vn")), ...(await tables.rows("th"))];
  return rows.map((row) => locationKey({ driverId: row.driver_id, recordedAt: row.recorded_at.getTime() })).sort();
}

/** Batched-mode requests the source has made with this result, from its metrics. */
async function sourceBatches(result: string): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${stack.ports[`source-${CONSUMER}`]}/metrics`)).text();
  const line = metrics.split("\n").find((l) => l.startsWith(`uitgo_source_batches_total{consumer="${CONSUMER}",result="${result}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

async function deadLetters(): Promise<number> {
  const info = await jsm.streams.info("DEAD_LETTERS", { subjects_filter: DEAD });
  return info.state.subjects?.[DEAD] ?? 0;
}

describe("location history", () => {
  it("records every accepted update once, even when the stream delivers them all again into a crashing recorder", async () => {
    const sent = await reportMany(30, 4);
    const expected = sent.map(locationKey).sort();

    await waitFor(async () => (await tables.count()) === sent.length && consumerIdle(), 30_000, `${sent.length} rows`);
    expect(await recordedKeys()).toEqual(expected);
    expect(await tables.count("vn")).toBe(60);
    expect(await tables.count("th")).toBe(60);
    const [first] = await tables.rows("vn");
    const original = sent.find((u) => u.driverId === first!.driver_id && u.recordedAt === first!.recorded_at.getTime())!;
    expect(first).toMatchObject({ lat: original.at.lat, lng: original.at.lng, status: "available" });

    // Every message of the stream again, under new message ids so JetStream stores them as new messages.
    const { first_seq: firstSeq, last_seq: lastSeq } = (await jsm.streams.info(STREAM)).state;
    for (let seq = firstSeq; seq <= lastSeq; seq++) {
      const message = await jsm.streams.getMessage(STREAM, { seq });
      await js.publish(message!.subject, message!.data, { msgID: `${message!.header.get("Nats-Msg-Id")}:again` });
    }
    // Kill the recorder while deliveries wait in its batches; the source retries them into the restarted one.
    await waitFor(async () => (await jsm.consumers.info(STREAM, CONSUMER)).num_ack_pending > 0, 10_000, "deliveries in flight");
    stack.kill(CONSUMER);
    await stack.exited(CONSUMER);
    await stack.start(CONSUMER);
    const republished = (await jsm.streams.info(STREAM)).state.last_seq;
    expect(republished - lastSeq).toBe(lastSeq - firstSeq + 1);
    await waitFor(
      async () => (await jsm.consumers.info(STREAM, CONSUMER)).ack_floor.stream_seq === republished && consumerIdle(),
      30_000,
      "the redeliveries to drain",
    );

    expect(await recordedKeys()).toEqual(expected);
    expect(await deadLetters()).toBe(0);
    // The stack delivers this consumer in batches (SOURCE_SETTINGS), as it is deployed.
    expect(await sourceBatches("delivered")).toBeGreaterThan(0);
  });

  it("dead-letters a malformed and an unknown event, and still records the updates behind them", async () => {
    const valid: LocationEvent = {
      schemaVersion: 2,
      type: DRIVER_LOCATION_TYPE,
      time: new Date().toISOString(),
      locations: [
        { driverId: "direct", region: "vn", ...HCMC, status: "available", recordedAt: new Date(Date.now() - 60_000).toISOString() },
      ],
    };
    // Ids of this run only: a purge does not empty the stream's duplicate window.
    const run = Date.now();
    await js.publish("drivers.location.vn", '{"schemaVersion": 2, "type": "drivers.location", "locations": [{', {
      msgID: `malformed:${run}`,
    });
    await js.publish("drivers.location.vn", JSON.stringify({ ...valid, type: "drivers.teleported" }), { msgID: `unknown-type:${run}` });
    await js.publish("drivers.location.vn", JSON.stringify(valid), { msgID: `direct:${run}` });
    const sent = await reportMany(4, 3);

    await waitFor(
      async () => (await deadLetters()) === 2 && (await tables.count()) === sent.length + 1 && consumerIdle(),
      20_000,
      "dead letters and rows",
    );

    expect(await recordedKeys()).toEqual([...sent.map(locationKey), `direct:${Date.parse(valid.locations[0]!.recordedAt)}`].sort());
    const reasons: string[] = [];
    const { first_seq: first, last_seq: last } = (await jsm.streams.info("DEAD_LETTERS")).state;
    for (let seq = first; seq <= last; seq++) {
      const dead = await jsm.streams.getMessage("DEAD_LETTERS", { seq });
      if (dead?.subject === DEAD) reasons.push(dead.header.get(DEAD_LETTER_HEADERS.reason));
    }
    // The unknown event came in a batch with good ones: the batch was refused and delivered again one by one.
    expect(await sourceBatches("refused")).toBeGreaterThan(0);
    // The source delivers both at once, so either may be dead-lettered first.
    expect(reasons.sort()).toEqual([
      expect.stringMatching(/^sink answered 400: .*malformed_json/),
      expect.stringMatching(/^sink answered 400: .*unsupported_event_type/),
    ]);
  });
});

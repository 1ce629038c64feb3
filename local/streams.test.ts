// `npm run streams` against the real server: what is waiting for a consumer shows up as pending.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { loadConfig } from "../shared/config";
import { resetState } from "../harness/state";
import { formatStreams, readStreams } from "./streams";

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connect({ servers: loadConfig().natsUrl });
});
afterAll(() => nc.close());
beforeEach(resetState);

it("shows each stream and consumer with its pending, ack-pending and redelivered counts", async () => {
  const run = Date.now();
  for (let i = 0; i < 3; i++) await jetstream(nc).publish("trips.requested.vn", "{}", { msgID: `streams-test-${run}-${i}` });

  const reports = await readStreams(await jetstreamManager(nc));
  expect(reports.map((r) => r.name)).toEqual(["TRIPS", "DRIVER_LOCATIONS", "DEAD_LETTERS"]);
  const assignDriver = reports[0]!.consumers.find((c) => c.name === "assign-driver")!;
  expect(assignDriver.num_pending).toBe(3);

  const text = formatStreams(reports);
  expect(text).toMatch(/Stream TRIPS \(trips\.\*\.\*\)\n {2}messages 3,/);
  expect(text).toMatch(/Consumer assign-driver\n.*max deliver 20\n {4}pending 3 · ack pending 0 · redelivered \d+/);
});

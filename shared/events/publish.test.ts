// Events published in one turn of the event loop go out together; each caller still hears about its own event only.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Nats } from "../clients/nats";
import { loadConfig } from "../config";
import { DependencyUnavailable } from "../clients/dependency";
import { resetState } from "../../harness/state";
import { storedEvents } from "../../harness/streams";
import { publishEvent } from "./publish";

const config = loadConfig();
const SUBJECT = "drivers.location.vn";
let nats: Nats;

beforeAll(async () => {
  nats = new Nats(config.natsUrl, "publish-test", config.dependencyTimeoutMs);
  await nats.connected;
});
beforeEach(() => resetState());
afterAll(() => nats.close());

describe("publishEvent", () => {
  it("stores every event published in one turn, and fails only the one no stream takes", async () => {
    const run = Date.now();
    const stored = Array.from({ length: 40 }, (_, i) => publishEvent(nats, SUBJECT, { n: i }, `publish-test:${run}:${i}`));
    const unstored = publishEvent(nats, "nowhere.to.go", { n: -1 }, `publish-test:${run}:none`);

    await expect(unstored).rejects.toBeInstanceOf(DependencyUnavailable);
    await expect(Promise.all(stored)).resolves.toHaveLength(40);
    const events = await storedEvents<{ n: number }>(await nats.connected, "DRIVER_LOCATIONS", SUBJECT);
    expect(events.map((event) => event.n)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it("stores an event published again with the same id once", async () => {
    const id = `publish-test:${Date.now()}:again`;
    await publishEvent(nats, SUBJECT, { n: 1 }, id);
    await Promise.all([publishEvent(nats, SUBJECT, { n: 1 }, id), publishEvent(nats, SUBJECT, { n: 1 }, id)]);
    expect(await storedEvents(await nats.connected, "DRIVER_LOCATIONS", SUBJECT)).toHaveLength(1);
  });
});

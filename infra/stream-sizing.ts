// How much JetStream store DRIVER_LOCATIONS needs: publishes location updates exactly as update-location
// does (shared/events/location-events.ts) onto a scratch NATS server's DRIVER_LOCATIONS stream, `--together`
// at a time (as many as update-location accepts in one turn, so they travel in one event; 1 is a quiet
// function, one event per update), reads the bytes JetStream stores per update from the stream's state, and
// prints the sizing table that docs/runbook.md ("JetStream storage") quotes.
//
//   nats-server -a 127.0.0.1 -p 4399 -js -sd "$(mktemp -d)" &
//   npx tsx infra/stream-sizing.ts --nats nats://127.0.0.1:4399 [--messages 20000] [--together 1]
//
// It creates every stream (ensureJetStream) and purges DRIVER_LOCATIONS, so it refuses to run without an
// explicit --nats: never point it at a server whose streams matter.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { Nats } from "../shared/clients/nats";
import { STREAMS, ensureJetStream } from "../shared/events/definitions";
import { LocationEvents } from "../shared/events/location-events";

const { values } = parseArgs({
  options: { nats: { type: "string" }, messages: { type: "string", default: "20000" }, together: { type: "string", default: "1" } },
});
if (!values.nats) {
  console.error("infra/stream-sizing.ts purges DRIVER_LOCATIONS: give a scratch server with --nats nats://host:port");
  process.exit(2);
}
const total = Number(values.messages);
const together = Number(values.together);
const stream = STREAMS.find((s) => s.name === "DRIVER_LOCATIONS")!;

const nats = new Nats(values.nats, "stream-sizing", 5_000);
await nats.connected;
const jsm = await nats.manager();
await ensureJetStream(jsm);
await jsm.streams.purge(stream.name);

// Drivers as a real city has them: UUID ids (the token's sub), positions at GPS precision, every optional field set.
const drivers = Array.from({ length: 1000 }, () => randomUUID());
const events = new LocationEvents(nats);
const start = Date.now();
for (let i = 0; i < total; i += together) {
  await Promise.all(
    Array.from({ length: Math.min(together, total - i) }, (_, j) =>
      events.publish({
        driverId: drivers[(i + j) % drivers.length]!,
        region: "vn",
        status: "available",
        lat: 10.7769 + (Math.random() - 0.5) * 0.2,
        lng: 106.7009 + (Math.random() - 0.5) * 0.2,
        accuracy: Math.round(Math.random() * 2000) / 100,
        heading: Math.round(Math.random() * 36000) / 100,
        speed: Math.round(Math.random() * 2000) / 100,
        recordedAt: start + i + j,
      }),
    ),
  );
}
const { state } = await jsm.streams.info(stream.name);
await nats.close();

const perUpdate = state.bytes / total;
const GiB = 1024 ** 3;
const maxBytes = Number(stream.max_bytes);
const INTERVAL_S = 4;
console.log(
  `${total} updates, ${together} at a time: ${state.messages} messages, ${state.bytes} bytes stored, ${perUpdate.toFixed(1)} bytes per update (JetStream's own accounting)`,
);
console.log(`DRIVER_LOCATIONS max_bytes ${maxBytes} (${(maxBytes / GiB).toFixed(2)} GiB), max_age ${Number(stream.max_age) / 3.6e12} h\n`);
console.log("| drivers (one update every 4 s) | updates per second | updates per day | store for 24 h | history max_bytes holds |");
console.log("| ---: | ---: | ---: | ---: | ---: |");
for (const drivers of [1_000, 10_000, 50_000, 100_000]) {
  const rate = drivers / INTERVAL_S;
  const perDay = rate * 86_400;
  const bytesPerSecond = rate * perUpdate;
  const held = maxBytes / bytesPerSecond;
  const heldText =
    held >= 86_400 ? "all 24 h (max_age binds)" : held >= 3600 ? `${(held / 3600).toFixed(1)} h` : `${Math.round(held / 60)} min`;
  console.log(
    `| ${drivers.toLocaleString("en")} | ${rate.toLocaleString("en")} | ${(perDay / 1e6).toFixed(1)} M | ${((perDay * perUpdate) / GiB).toFixed(1)} GiB | ${heldText} |`,
  );
}

// Location history ingestion, one message per request (binary mode) against batches (batched content mode): the
// real JetStream source and record-locations bundles as their own processes, on a NATS server of this script's own
// and shard databases of its own. Each round fills DRIVER_LOCATIONS with the same updates, then creates the
// record-locations consumer and times the rows into PostgreSQL, with the CPU each process spent per message.
// The modes alternate, and which goes first alternates too, so a busy spell on a shared machine favours neither.
//
//   node --import tsx bench/history-ingest.ts [--messages 20000] [--rounds 3] [--batched SOURCE_BATCH_MAX=500 ...]
//
// --batched overrides one of record-locations' SOURCE_SETTINGS for the batched runs, to try other settings.
//
// Needs PostgreSQL on 5432 (the databases are created); nats-server installed.
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { bundleFile } from "../esbuild.config";
import { provision } from "../local/provision";
import { SOURCE_SETTINGS, loadConfig } from "../shared/config";
import { CONSUMERS } from "../shared/events/definitions";
import { locationEvent, locationEventId, locationSubject } from "../shared/events/location-events";
import { locationKey } from "../shared/drivers/driver";
import { REGIONS, type Region } from "../shared/regions";
import { NatsServer } from "../harness/nats-server";
import { BANGKOK, HCMC, randomPointNear, seededRandom } from "../harness/places";
import { freePort, startBundle, waitFor, waitUntilReady, type BundleProcess } from "../harness/processes";
import { cpuBetween, cpuSnapshot } from "./lib/cpu";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
    batched: { type: "string", multiple: true, default: [] },
  },
});
const MESSAGES = Number(values.messages);
const ROUNDS = Number(values.rounds);
const STREAM = "DRIVER_LOCATIONS";
const CONSUMER = CONSUMERS.find((c) => c.config.durable_name === "record-locations")!;
const DB_PREFIX = "uitgo_histbench";

/** The two ways the source can deliver: today's default, and the settings record-locations is deployed with. */
const MODES = {
  binary: { SOURCE_BATCH_MAX: "1" },
  batched: { ...SOURCE_SETTINGS["record-locations"], ...Object.fromEntries(values.batched.map((setting) => setting.split("=", 2))) },
} as const;
type Mode = keyof typeof MODES;

interface Result {
  mode: Mode;
  msgsPerSecond: number;
  sourceUs: number;
  functionUs: number;
  postgresUs: number;
}

// Everything on stores of its own: the messages, the consumer and the rows are this script's alone.
const nats = await NatsServer.start();
Object.assign(process.env, {
  NATS_URL: nats.url,
  ...Object.fromEntries(REGIONS.map((r) => [`DATABASE_URL_${r.toUpperCase()}`, `postgres://postgres@127.0.0.1:5432/${DB_PREFIX}_${r}`])),
});
await provision();
const config = loadConfig();
const shards = Object.fromEntries(REGIONS.map((r) => [r, postgres(config.shards[r].primaryUrl, { max: 1, onnotice: () => {} })])) as Record<
  Region,
  postgres.Sql
>;
const nc = await connect({ servers: nats.url });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);

const dir = `${import.meta.dirname}/../dist/bench-history`;
const bundles = { source: `${dir}/source/index.mjs`, function: `${dir}/record-locations/index.mjs` };
await bundleFile(`${import.meta.dirname}/../sources/jetstream/index.ts`, bundles.source);
await bundleFile(`${import.meta.dirname}/../functions/record-locations/index.ts`, bundles.function);

/** The same updates every round, half in each region's city, one per event, as update-location publishes them when quiet. */
function events(round: number): { subject: string; body: string; id: string }[] {
  const random = seededRandom(11);
  const start = Date.UTC(2026, 10, 21, 8) + round * 3_600_000;
  return Array.from({ length: MESSAGES }, (_, i) => {
    const region: Region = i % 2 ? "th" : "vn";
    const location = {
      driverId: `driver-${i % 5000}`,
      region,
      ...randomPointNear(region === "th" ? BANGKOK : HCMC, 3000, random),
      status: "available" as const,
      recordedAt: start + i,
    };
    return {
      subject: locationSubject(region),
      body: JSON.stringify(locationEvent([location])),
      id: locationEventId([locationKey(location)]),
    };
  });
}

async function rowCount(): Promise<number> {
  const counts = await Promise.all(REGIONS.map((r) => shards[r]<{ n: number }[]>`select count(*)::int as n from driver_locations`));
  return counts.reduce((total, [row]) => total + row!.n, 0);
}

/** From the first row stored to the last: the rows' own stored_at, not this script's polling, times the run. */
async function storedSpanMs(): Promise<number> {
  const spans = await Promise.all(
    REGIONS.map(
      (r) => shards[r]<{ first: Date; last: Date }[]>`select min(stored_at) as first, max(stored_at) as last from driver_locations`,
    ),
  );
  const first = Math.min(...spans.map(([s]) => s!.first.getTime()));
  const last = Math.max(...spans.map(([s]) => s!.last.getTime()));
  return last - first;
}

async function ingest(mode: Mode, round: number): Promise<Result> {
  await Promise.all(REGIONS.map((r) => shards[r]`truncate driver_locations`));
  await jsm.consumers.delete(STREAM, CONSUMER.config.durable_name).catch(() => undefined);
  await jsm.streams.purge(STREAM);

  const functionPort = await freePort();
  const sourcePort = await freePort();
  const processes: BundleProcess[] = [];
  try {
    processes.push(startBundle(bundles.function, { PORT: String(functionPort), SERVICE_NAME: "record-locations" }));
    await waitUntilReady(functionPort);
    processes.push(
      startBundle(bundles.source, {
        ...MODES[mode],
        PORT: String(sourcePort),
        SERVICE_NAME: "source-record-locations",
        K_SINK: `http://127.0.0.1:${functionPort}/`,
        JS_STREAM: STREAM,
        JS_CONSUMER: CONSUMER.config.durable_name,
      }),
    );
    await waitUntilReady(sourcePort);

    const all = events(round);
    for (let i = 0; i < all.length; i += 1000) {
      await Promise.all(all.slice(i, i + 1000).map((e) => js.publish(e.subject, e.body, { msgID: e.id })));
    }
    const components = { stackPorts: [String(functionPort), String(sourcePort)], databases: REGIONS.map((r) => `${DB_PREFIX}_${r}`) };
    const before = cpuSnapshot(components);
    // The source waits for its consumer (it looks again every second): creating it starts the run.
    await jsm.consumers.add(STREAM, CONSUMER.config);
    await waitFor(async () => (await rowCount()) === MESSAGES, 300_000, `${MESSAGES} rows (${mode})`);
    const used = cpuBetween(before, cpuSnapshot(components));
    const perMessage = (seconds = 0) => Math.round((seconds * 1e6) / MESSAGES);
    return {
      mode,
      msgsPerSecond: Math.round(MESSAGES / ((await storedSpanMs()) / 1000)),
      sourceUs: perMessage(used["source-record-locations"]),
      functionUs: perMessage(used["record-locations"]),
      postgresUs: perMessage(used.postgres),
    };
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

console.log(`${MESSAGES} location events per run, ${ROUNDS} rounds; batched = ${JSON.stringify(MODES.batched)}`);
const results: Result[][] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order: Mode[] = round % 2 ? ["batched", "binary"] : ["binary", "batched"];
    const pair: Record<Mode, Result> = {} as Record<Mode, Result>;
    for (const [k, mode] of order.entries()) {
      pair[mode] = await ingest(mode, round * 2 + k);
      const r = pair[mode];
      console.log(
        `round ${round + 1} ${mode.padEnd(7)} ${String(r.msgsPerSecond).padStart(6)} msgs/s  CPU per message: source ${r.sourceUs} µs, function ${r.functionUs} µs, postgres ${r.postgresUs} µs`,
      );
    }
    results.push([pair.binary, pair.batched]);
  }
} finally {
  await nc.close();
  await Promise.all(REGIONS.map((r) => shards[r].end()));
  await nats.stop();
}

const figures = [
  ["throughput (msgs/s)", (r: Result) => r.msgsPerSecond],
  ["source CPU µs/msg", (r: Result) => r.sourceUs],
  ["function CPU µs/msg", (r: Result) => r.functionUs],
  ["postgres CPU µs/msg", (r: Result) => r.postgresUs],
] as const;
console.log("\nmedian binary → median batched; batched ÷ binary per round (median)");
for (const [label, pick] of figures) {
  const binary = results.map(([b]) => pick(b!));
  const batched = results.map(([, b]) => pick(b!));
  const ratios = results.map(([b, c]) => ratio(pick(c!), pick(b!)));
  console.log(`${label.padEnd(22)} ${median(binary)} → ${median(batched)}; ratios ${ratios.join(", ")} (median ${median(ratios)})`);
}

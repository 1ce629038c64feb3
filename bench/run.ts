// `npm run bench`: starts the whole system locally in an environment of its own, loads a dense city, and
// measures every scenario beside a ceiling measured in the same run. Prints one table and writes it as JSON
// to bench/results/<date>.json.
//
//   npm run bench                          everything (a few minutes)
//   npm run bench -- --only search-drivers,cold-start --seconds 5
//   npm run bench -- --save-baseline       also write bench/results/baseline.json
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import postgres from "postgres";
import { FUNCTIONS, buildAll, bundleFile, bundlePath } from "../esbuild.config";
import { provision } from "../local/provision";
import { startStack, type Stack } from "../local/stack";
import { DriverIndex } from "../shared/drivers/driver-index";
import { measureColdStarts, type ColdStart } from "./lib/cold-start";
import { CITY_CENTRE, DRIVER_COUNT, seedCity, type Silence } from "./lib/city";
import { HISTORY_RIDERS, seedHistories } from "./lib/histories";
import { benchEnvironment, type BenchEnvironment } from "./lib/environment";
import type { Components } from "./lib/cpu";
import type { AssignmentResult, Plan, WithCpu } from "./lib/load/generator";
import {
  HOME_MISS,
  HTTP_SCENARIOS,
  K6_COST_US,
  LOCAL_RATES,
  STALE_CITIES,
  type EntryReport,
  checkTargets,
  fixedRate,
  type BenchReport,
  type HttpScenario,
  type ScenarioName,
} from "./lib/scenarios";
import type { LoadResult } from "./lib/stats";
import { printTable } from "./lib/table";
import { startTraceReceiver } from "../local/traces";
import { freePort, startBundle, waitUntilReady, type BundleProcess } from "../harness/processes";
import { consumerBacklog } from "../harness/streams";

const root = fileURLToPath(new URL("..", import.meta.url));
const resultsDir = join(root, "bench", "results");
const STEPS = [
  "ceiling",
  ...HTTP_SCENARIOS.filter((s) => s !== "hello"),
  "stale-city",
  "assignment",
  "burst",
  "flood-and-search",
  "booking-spike",
  "cold-start",
] as const;
type Step = (typeof STEPS)[number];

const { values: args } = parseArgs({
  options: {
    only: { type: "string" },
    seconds: { type: "string", default: "8" },
    "cold-runs": { type: "string", default: "5" },
    burst: { type: "string", default: "10000" },
    "save-baseline": { type: "boolean", default: false },
    // Every process of the stack under V8's profiler (slower); see bench/profile.ts to read the profiles.
    profile: { type: "boolean", default: false },
    // The k6 scripts' load through the local entry point (docs/performance.md, "Rates through the entry point").
    "flood-rate": { type: "string", default: String(LOCAL_RATES.floodPerSecond) },
    "search-rate": { type: "string", default: String(LOCAL_RATES.searchesPerSecond) },
    "booking-rate": { type: "string", default: String(LOCAL_RATES.bookingsPerSecond) },
    "spike-driver-rate": { type: "string", default: String(LOCAL_RATES.spikeReportsPerSecond) },
    "generator-cost-us": { type: "string", default: String(K6_COST_US) },
  },
});
const only = new Set((args.only ?? STEPS.join(",")).split(",").map((s) => s.trim()));
for (const step of only) if (!(STEPS as readonly string[]).includes(step)) fail(`unknown step ${step}; the steps are ${STEPS.join(", ")}`);
const wants = (step: Step) => only.has(step);
const measureMs = Number(args.seconds) * 1000;
const WARMUP_MS = 2_000;
const PEAK_CONNECTIONS = 32;
const OPEN_MAX_CONNECTIONS = 256;
// booking-spike.js lets k6 run up to 3,000 VUs, and the entry point keeps up to 1,024 sockets to each function: a
// crowd this size reaches create-trip instead of queueing in the generator.
const SPIKE_MAX_CONNECTIONS = 1_024;
const ASSIGNMENT_RATE = 200;
const BURST = Number(args.burst);
const BURST_CONNECTIONS = 64;
// The stale city's silent drivers last reported a minute before the freshness window ended.
const SILENT_PAST_FRESH_MS = 60_000;

const log = (line: string) => console.error(`  ${line}`);
/** Started with tracing on too, in the cold-start step. */
const TRACED_STARTS = ["create-trip", "assign-driver"];

/** What the steps of a run share: the processes it started, which the run's one cleanup stops. */
interface BenchContext {
  started: number;
  environment: BenchEnvironment;
  stack?: Stack;
  hello?: BundleProcess;
  helloPort?: number;
  /** The second home, with its cache off, for the home step. */
  homeUncached?: BundleProcess;
  homeUncachedPort?: number;
}

interface Bundles {
  hello: string;
  bare: string;
}

async function main(): Promise<void> {
  let context: BenchContext | undefined;
  try {
    const started = Date.now();
    context = { started, environment: await benchEnvironment(log) };
    const bundles = await prepare();
    const coldStarts = wants("cold-start") ? await measureColdStartsOf(context, bundles) : [];
    const state = await import("../harness/state");
    await state.resetState();
    const ports = await startSystem(context, bundles);
    const report = await measureScenarios(context, ports, state.resetState, coldStarts);
    writeReport(report);
  } catch (err) {
    console.error(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  } finally {
    await context?.hello?.stop();
    await context?.homeUncached?.stop();
    await context?.stack?.stop();
    const { closeState } = await import("../harness/state");
    await closeState();
    await context?.environment.stop();
  }
}

/** Provisions the bench's stores and builds every bundle it starts. */
async function prepare(): Promise<Bundles> {
  log("provisioning the bench databases, Redis database and streams");
  await provision({ log });
  const bundles = { hello: join(root, "dist", "bench", "hello", "index.mjs"), bare: join(root, "dist", "bench", "bare", "index.mjs") };
  await Promise.all([
    buildAll(),
    bundleFile(join(root, "bench", "hello", "index.ts"), bundles.hello),
    bundleFile(join(root, "bench", "bare", "index.ts"), bundles.bare),
  ]);
  return bundles;
}

/**
 * Cold starts first, while nothing else runs; the stores are up and provisioned. The functions on the booking path
 * are also started with tracing on (exporting to a receiver of the bench's own), in the same rounds: what
 * configuring tracing costs a start, beside what it costs when it is not configured (nothing is loaded then).
 */
async function measureColdStartsOf({ environment }: BenchContext, bundles: Bundles): Promise<ColdStart[]> {
  const receiver = await startTraceReceiver();
  const traced = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
  const targets = [
    { name: "bare node:http", bundle: bundles.bare },
    { name: "hello (bootstrap)", bundle: bundles.hello },
    ...FUNCTIONS.map((name) => ({ name, bundle: bundlePath("functions", name) })),
    ...TRACED_STARTS.map((name) => ({ name: `${name} (tracing on)`, bundle: bundlePath("functions", name), env: traced })),
  ];
  try {
    const coldStarts = await measureColdStarts(targets, environment.env, Number(args["cold-runs"]));
    for (const start of coldStarts) log(`cold start ${start.name}: ${start.readyMs} ms (${start.vsReference} × bare), ${start.rssMb} MB`);
    return coldStarts;
  } finally {
    await receiver.close();
  }
}

/** The stack (under the profiler if asked) and the hello function; returns the port of each scenario's target. */
async function startSystem(context: BenchContext, bundles: Bundles): Promise<Record<HttpScenario, number>> {
  const { environment } = context;
  const profileDir = args.profile ? join(resultsDir, "profiles", new Date(context.started).toISOString().replace(/[:.]/g, "-")) : undefined;
  const stackEnv = profileDir
    ? { ...environment.env, NODE_OPTIONS: `--require ${join(root, "bench", "lib", "cpu-profile.cjs")}`, UITGO_CPU_PROFILE_DIR: profileDir }
    : environment.env;
  const stack = await startStack({
    basePort: environment.basePort,
    env: stackEnv,
    build: false,
    logDir: join(root, ".local", "bench-logs"),
    log,
  });
  context.stack = stack;
  if (profileDir)
    log(`profiling every process of the stack into ${profileDir} (read them with: node --import tsx bench/profile.ts show ${profileDir})`);
  const helloPort = await freePort();
  context.helloPort = helloPort;
  context.hello = await startHello(bundles.hello, helloPort, environment.env);
  return {
    hello: helloPort,
    "search-drivers": stack.ports["search-drivers"]!,
    "update-location": stack.ports["update-location"]!,
    "create-trip": stack.ports["create-trip"]!,
    "list-trips": stack.ports["list-trips"]!,
    home: stack.ports.home!,
  };
}

/** Every scenario asked for, in order, between two measurements of the ceiling. */
async function measureScenarios(
  context: BenchContext,
  ports: Record<HttpScenario, number>,
  resetState: () => Promise<void>,
  coldStarts: ColdStart[],
): Promise<BenchReport> {
  const { environment } = context;
  const stack = context.stack!;
  const fresh = async (silence?: Silence) => {
    await resetState();
    await seedDrivers(environment.env.REDIS_URL!, silence);
  };

  const peaks: BenchReport["peaks"] = {};
  const atRate: BenchReport["atRate"] = {};
  let history: BenchReport["history"];
  const measure = async (scenario: HttpScenario, label: ScenarioName = scenario, heldRate?: number, port = ports[scenario]) => {
    // Every driver of the city reports once in the measured window, however long that takes.
    const minRequests = scenario === "update-location" ? DRIVER_COUNT : 0;
    const peak = (await generate(context, {
      mode: "closed",
      kind: scenario,
      port,
      connections: PEAK_CONNECTIONS,
      warmupMs: WARMUP_MS,
      durationMs: measureMs,
      minRequests,
    })) as WithCpu<LoadResult>;
    log(`${label}: peak ${peak.throughput}/s, p99 ${peak.latency.p99} ms, ${peak.errors} errors`);
    if (scenario === "update-location") {
      // The history is written behind the 202s; the next run starts once it has caught up, so it does not share the machine with it.
      history = await historyCatchUp(environment.natsUrl);
      log(`location history: ${history.backlog} updates still to write when the load stopped, written in ${history.drainSeconds} s`);
    }
    const rate = heldRate ?? fixedRate(scenario, peak.throughput);
    if (peak.throughput < rate / 2) {
      // Far past its peak an open run only queues: it would last as long as the backlog takes to answer.
      log(`${label}: not held at ${rate}/s, more than twice its peak`);
      return { peak, held: undefined };
    }
    const held = (await generate(context, {
      mode: "open",
      kind: scenario,
      port,
      rate,
      maxConnections: OPEN_MAX_CONNECTIONS,
      warmupMs: WARMUP_MS,
      durationMs: measureMs,
    })) as WithCpu<LoadResult>;
    log(`${label}: at ${rate}/s p50 ${held.latency.p50} p95 ${held.latency.p95} p99 ${held.latency.p99} ms, ${held.errors} errors`);
    return { peak, held: { ...held, rate } };
  };

  await fresh();
  const before = await measure("hello");
  peaks.hello = before.peak;
  atRate.hello = before.held;

  for (const scenario of ["search-drivers", "update-location"] as const) {
    if (!wants(scenario)) continue;
    await fresh();
    ({ peak: peaks[scenario], held: atRate[scenario] } = await measure(scenario));
  }

  if (wants("stale-city")) {
    // The same searches as search-drivers, held at the fresh city's rate when it ran, so the two compare directly.
    for (const city of STALE_CITIES) {
      await fresh({ share: city.silentShare, silentForMs: Number(environment.env.DRIVER_FRESH_MS) + SILENT_PAST_FRESH_MS });
      ({ peak: peaks[city.name], held: atRate[city.name] } = await measure("search-drivers", city.name, atRate["search-drivers"]?.rate));
    }
  }

  if (wants("create-trip")) {
    // create-trip on its own: with assign-driver matching every booking, the city would run out of drivers
    // and the figure would be the pipeline's. The bookings left in the stream are purged afterwards.
    await fresh();
    stack.kill("source-assign-driver", "SIGTERM");
    await stack.exited("source-assign-driver");
    ({ peak: peaks["create-trip"], held: atRate["create-trip"] } = await measure("create-trip"));
    await resetState();
    await stack.start("source-assign-driver");
  }

  if (wants("list-trips")) {
    // Riders opening their history: each first page merges both shards' newest trips.
    await fresh();
    const started = performance.now();
    const env = environment.env;
    const written = await seedHistories({ vn: env.DATABASE_URL_VN!, th: env.DATABASE_URL_TH! });
    log(`seeded ${written} trips of ${HISTORY_RIDERS} riders' histories in ${Math.round(performance.now() - started)} ms`);
    ({ peak: peaks["list-trips"], held: atRate["list-trips"] } = await measure("list-trips"));
  }

  if (wants("home")) {
    // The same news read through the cache (every read after a key's first a hit) and with it off, in one run.
    await fresh();
    ({ peak: peaks.home, held: atRate.home } = await measure("home"));
    const uncached = await startHomeUncached(context);
    ({ peak: peaks[HOME_MISS], held: atRate[HOME_MISS] } = await measure("home", HOME_MISS, undefined, uncached));
  }

  let assignment: BenchReport["assignment"];
  if (wants("assignment")) {
    await fresh();
    const result = await generateAssignment(context, {
      rate: ASSIGNMENT_RATE,
      durationMs: measureMs,
      warmupMs: WARMUP_MS,
      connections: OPEN_MAX_CONNECTIONS,
    });
    assignment = { ...result, rate: ASSIGNMENT_RATE };
    log(`assignment at ${ASSIGNMENT_RATE}/s: p99 ${result.assignLatency.p99} ms, ${result.assigned}/${result.booked} assigned`);
  }

  let burst: BenchReport["burst"];
  if (wants("burst")) {
    await fresh();
    const result = await generateAssignment(context, { burst: BURST, connections: BURST_CONNECTIONS });
    burst = { ...result, count: BURST };
    log(`burst of ${BURST}: booked in ${result.bookingSeconds} s, drained in ${result.drainSeconds} s, ${result.assigned} assigned`);
  }

  let entry: EntryReport | undefined;
  const costUs = Number(args["generator-cost-us"]);
  const viaEntry = { port: stack.ports.gateway!, maxConnections: OPEN_MAX_CONNECTIONS, warmupMs: WARMUP_MS, durationMs: measureMs, costUs };
  if (wants("flood-and-search")) {
    await fresh();
    const [floodRate, searchRate] = [Number(args["flood-rate"]), Number(args["search-rate"])];
    const shedBefore = await shedCounts(stack);
    const [locations, searches] = (await Promise.all([
      generate(context, { mode: "open", kind: "update-location", rate: floodRate, ...viaEntry }),
      generate(context, { mode: "open", kind: "search-drivers", rate: searchRate, ...viaEntry }),
    ])) as WithCpu<LoadResult>[];
    const shed = shedSince(shedBefore, await shedCounts(stack));
    entry = {
      ...entry,
      costUs,
      floodAndSearch: { locations: { ...locations!, rate: floodRate }, searches: { ...searches!, rate: searchRate }, shed },
    };
    if (Object.keys(shed).length > 0) log(`refused as overloaded, by function and sign: ${JSON.stringify(shed)}`);
    log(
      `through the entry point: locations at ${floodRate}/s p99 ${locations!.latency.p99} ms, ${locations!.errors} errors; searches at ${searchRate}/s p99 ${searches!.latency.p99} ms, ${searches!.errors} errors`,
    );
    await historyCatchUp(environment.natsUrl);
  }
  if (wants("booking-spike")) {
    await fresh();
    const [bookingRate, driverRate] = [Number(args["booking-rate"]), Number(args["spike-driver-rate"])];
    const shedBefore = await shedCounts(stack);
    const [bookings, locations] = await Promise.all([
      generate(context, {
        mode: "assignment",
        port: viaEntry.port,
        natsUrl: environment.natsUrl,
        settleTimeoutMs: 60_000,
        rate: bookingRate,
        durationMs: measureMs,
        warmupMs: WARMUP_MS,
        connections: SPIKE_MAX_CONNECTIONS,
        costUs,
      }) as Promise<WithCpu<AssignmentResult>>,
      // Drivers report from before the first booking until after the last.
      generate(context, {
        mode: "open",
        kind: "update-location",
        rate: driverRate,
        ...viaEntry,
        durationMs: measureMs + WARMUP_MS,
      }) as Promise<WithCpu<LoadResult>>,
    ]);
    const shed = shedSince(shedBefore, await shedCounts(stack));
    entry = {
      ...entry,
      costUs,
      bookingSpike: { bookings: { ...bookings, rate: bookingRate }, locations: { ...locations, rate: driverRate }, shed },
    };
    if (Object.keys(shed).length > 0) log(`refused as overloaded, by function and sign: ${JSON.stringify(shed)}`);
    log(
      `through the entry point: bookings at ${bookingRate}/s, booked → assigned p99 ${bookings.assignLatency.p99} ms, ${bookings.assigned}/${bookings.booked} assigned, refused ${JSON.stringify(bookings.bookingErrors)}`,
    );
    await historyCatchUp(environment.natsUrl);
  }

  const after = wants("ceiling") ? await measure("hello") : undefined;
  const ceilingThroughput = Math.round(after ? (before.peak.throughput + after.peak.throughput) / 2 : before.peak.throughput);

  const partial: Omit<BenchReport, "targets"> = {
    date: new Date(context.started).toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? "unknown",
      memoryGb: Math.round(totalmem() / 2 ** 30),
      os: `Linux ${release()}`,
    },
    versions: await versions(environment),
    settings: {
      drivers: DRIVER_COUNT,
      city: `Ho Chi Minh City (${CITY_CENTRE.lat}, ${CITY_CENTRE.lng}), drivers σ 5 km, pickups within 3 km`,
      peakConnections: PEAK_CONNECTIONS,
      warmupSeconds: WARMUP_MS / 1000,
      measureSeconds: measureMs / 1000,
      nats: environment.natsNote,
      target: "each function's own port (no gateway in front), load generator in a separate process",
    },
    ceiling: { before: before.peak, ...(after && { after: after.peak }), throughput: ceilingThroughput },
    peaks,
    atRate,
    ...(assignment && { assignment }),
    ...(burst && { burst }),
    ...(history && { history }),
    ...(entry && { entry }),
    coldStarts,
  };
  return { ...partial, targets: checkTargets(partial) };
}

/** The table on the terminal, and the report as JSON under bench/results/ (and as the baseline if asked). */
function writeReport(report: BenchReport): void {
  printTable(report);
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${report.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwritten to ${file}`);
  if (args["save-baseline"]) {
    writeFileSync(join(resultsDir, "baseline.json"), `${JSON.stringify(report, null, 2)}\n`);
    console.log(`and to ${join(resultsDir, "baseline.json")}`);
  }
}

await main();
process.exit();

/** Runs one plan in a load-generator process of its own and returns what it measured. */
function generate(
  { stack, helloPort, homeUncachedPort, environment }: BenchContext,
  plan: Plan,
): Promise<WithCpu<LoadResult | AssignmentResult>> {
  const cpu: Components = {
    stackPorts: [...Object.values(stack?.ports ?? {}), helloPort, homeUncachedPort].filter((port) => port !== undefined).map(String),
    ...(environment.natsPid && { natsPid: environment.natsPid }),
    databases: [environment.env.DATABASE_URL_VN!, environment.env.DATABASE_URL_TH!].map((url) => new URL(url).pathname.slice(1)),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(root, "bench", "lib", "load", "generator.ts"), JSON.stringify({ ...plan, cpu })],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code} for ${JSON.stringify(plan)}`));
      resolve(JSON.parse(out) as WithCpu<LoadResult | AssignmentResult>);
    });
  });
}

function generateAssignment(
  context: BenchContext,
  options: { rate?: number; durationMs?: number; warmupMs?: number; burst?: number; connections: number },
): Promise<WithCpu<AssignmentResult>> {
  const plan: Plan = {
    mode: "assignment",
    port: context.stack!.ports["create-trip"]!,
    natsUrl: context.environment.natsUrl,
    settleTimeoutMs: 60_000,
    ...options,
  };
  return generate(context, plan) as Promise<WithCpu<AssignmentResult>>;
}

/** Waits until record-locations has written every location update in its stream. */
async function historyCatchUp(natsUrl: string): Promise<NonNullable<BenchReport["history"]>> {
  const nc = await connect({ servers: natsUrl, name: "uitgo-bench" });
  try {
    const jsm = await jetstreamManager(nc);
    const backlog = () => consumerBacklog(jsm, "DRIVER_LOCATIONS", "record-locations");
    const started = performance.now();
    const initial = await backlog();
    const deadline = started + 300_000;
    while ((await backlog()) > 0) {
      if (performance.now() > deadline) throw new Error("the location history did not catch up within 5 minutes");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { backlog: initial, drainSeconds: Math.round(performance.now() - started) / 1000 };
  } finally {
    await nc.close();
  }
}

type ShedCounts = Record<string, Record<string, number>>;

/** Every function's uitgo_requests_shed_total by sign, read from its /metrics. */
async function shedCounts(stack: Stack): Promise<ShedCounts> {
  const counts: ShedCounts = {};
  for (const name of FUNCTIONS) {
    const port = stack.ports[name];
    if (!port) continue;
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      (res) => res.text(),
      () => "",
    );
    for (const [, reason, n] of text.matchAll(/^uitgo_requests_shed_total\{reason="(\w+)"\} (\d+)$/gm)) {
      (counts[name] ??= {})[reason!] = Number(n);
    }
  }
  return counts;
}

/** What was refused between two readings, leaving out functions and signs that refused nothing. */
function shedSince(before: ShedCounts, after: ShedCounts): ShedCounts {
  const since: ShedCounts = {};
  for (const [name, reasons] of Object.entries(after)) {
    for (const [reason, n] of Object.entries(reasons)) {
      const d = n - (before[name]?.[reason] ?? 0);
      if (d > 0) (since[name] ??= {})[reason] = d;
    }
  }
  return since;
}

/** The hello function as its own process, like the stack's; killed with this process whatever happens. */
async function startHello(bundle: string, port: number, env: Record<string, string>): Promise<BundleProcess> {
  const fn = startBundle(bundle, { ...env, PORT: String(port), SERVICE_NAME: "hello" });
  process.once("exit", () => fn.child.kill("SIGKILL"));
  await waitUntilReady(port);
  return fn;
}

/** A second home beside the stack's, with HOME_CACHE_TTL_SECONDS=0: every request reads the shards. Returns its port. */
async function startHomeUncached(context: BenchContext): Promise<number> {
  const port = await freePort();
  const env = { ...context.environment.env, PORT: String(port), SERVICE_NAME: "home-uncached", HOME_CACHE_TTL_SECONDS: "0" };
  context.homeUncached = startBundle(bundlePath("functions", "home"), env);
  context.homeUncachedPort = port;
  process.once("exit", () => context.homeUncached?.child.kill("SIGKILL"));
  await waitUntilReady(port);
  return port;
}

/** The city's drivers into the bench's geo-index, as every scenario starts. */
async function seedDrivers(redisUrl: string, silence?: Silence): Promise<void> {
  const redis = new Redis(redisUrl);
  const started = performance.now();
  // A freshness window longer than any silence: seeding must not itself clear the silent drivers away.
  await seedCity(new DriverIndex(redis, 24 * 3_600_000), Date.now(), silence);
  await redis.quit();
  const silent = silence ? `, ${Math.round(silence.share * 100)} % of them silent` : "";
  log(`seeded ${DRIVER_COUNT} drivers around Ho Chi Minh City${silent} in ${Math.round(performance.now() - started)} ms`);
}

async function versions(env: BenchEnvironment): Promise<Record<string, string>> {
  const nc = await connect({ servers: env.natsUrl });
  const nats = nc.info?.version ?? "unknown";
  await nc.close();
  const redis = new Redis(env.env.REDIS_URL!);
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info("server"))?.[1] ?? "unknown";
  await redis.quit();
  const sql = postgres(env.env.DATABASE_URL_VN!, { max: 1, onnotice: () => {} });
  const [{ server_version: pg } = { server_version: "unknown" }] = await sql<{ server_version: string }[]>`show server_version`;
  await sql.end();
  const commit = await new Promise<string>((resolve) => {
    const git = spawn("git", ["describe", "--always", "--dirty"], { cwd: root });
    let out = "";
    git.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    git.once("close", () => resolve(out.trim() || "unknown"));
    git.once("error", () => resolve("unknown"));
  });
  return { node: process.version, "nats-server": nats, redis: redisVersion, postgresql: pg, uitgo: commit };
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

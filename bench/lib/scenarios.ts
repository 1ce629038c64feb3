// The scenarios of one bench run and the targets they are held to. Throughputs are compared with the
// ceiling (the hello function) measured in the same run on the same machine, because the load generator
// and every server share its cores and other work on it moves every figure.
import type { AssignmentResult, WithCpu } from "./load/generator";
import type { ColdStart } from "./cold-start";
import type { LoadResult } from "./stats";

export interface BenchReport {
  date: string;
  command: string;
  machine: { cores: number; cpu: string; memoryGb: number; os: string };
  versions: Record<string, string>;
  settings: Record<string, string | number>;
  /** The hello function's peak, measured before and after the scenarios; the ceiling is their mean. */
  ceiling: { before: LoadResult; after?: LoadResult; throughput: number };
  peaks: Partial<Record<ScenarioName, WithCpu<LoadResult>>>;
  /** Open-model runs at a fixed rate: the latency a user sees below saturation. */
  atRate: Partial<Record<ScenarioName, WithCpu<LoadResult> & { rate: number }>>;
  assignment?: WithCpu<AssignmentResult> & { rate: number };
  burst?: WithCpu<AssignmentResult> & { count: number };
  /** What a k6 script run on this machine sees: through the local entry point, the generator costing what k6 costs. */
  entry?: EntryReport;
  /** After update-location's peak run: updates the location history still had to write, and how long it took. */
  history?: { backlog: number; drainSeconds: number };
  coldStarts: ColdStart[];
  targets: TargetCheck[];
}

export type AtRate = WithCpu<LoadResult> & { rate: number };

/** Requests each function refused as overloaded during a run, by sign (shared/http/overload.ts). */
export type Shed = Record<string, Record<string, number>>;

export interface EntryReport {
  /** CPU the generator burned per request on top of its own, µs. */
  costUs: number;
  /** location-flood.js and search.js at once: drivers reporting and riders searching, each at a fixed rate. */
  floodAndSearch?: { locations: AtRate; searches: AtRate; shed?: Shed };
  /** booking-spike.js once warm: bookings at a fixed rate, each timed to its trips.assigned, while drivers report. */
  bookingSpike?: { bookings: WithCpu<AssignmentResult> & { rate: number }; locations: AtRate; shed?: Shed };
}

/**
 * The rates a k6 script can hold on this 2-core machine through the local entry point, with k6 on the same machine:
 * the k6 scripts' local defaults. Measured with the bench's flood-and-search and booking-spike steps
 * (docs/performance.md, "Rates through the entry point").
 */
export const LOCAL_RATES = { floodPerSecond: 250, searchesPerSecond: 25, bookingsPerSecond: 100, spikeReportsPerSecond: 300 };

/**
 * CPU k6 spends per request beyond what the bench's generator does, µs: an estimate (k6 cannot be installed here),
 * a JavaScript VU iteration with a check and a token per request.
 */
export const K6_COST_US = 100;

export const HTTP_SCENARIOS = ["hello", "search-drivers", "update-location", "create-trip", "list-trips", "home"] as const;
export type HttpScenario = (typeof HTTP_SCENARIOS)[number];

/**
 * home's news with the cache off (HOME_CACHE_TTL_SECONDS=0, a second home process): every request reads both shards,
 * as a miss does. Beside `home`, the same requests through the cache, where every read after a key's first is a hit.
 */
export const HOME_MISS = "home, cache off";

/**
 * search-drivers again, in a city where most drivers stopped reporting: a city at night, or after a mobile
 * network blip. Held to the fresh city's figures of the same run.
 */
export const STALE_CITIES = [
  { name: "search-drivers, stale city 90 %", silentShare: 0.9 },
  { name: "search-drivers, stale city 100 %", silentShare: 1 },
] as const;
export type ScenarioName = HttpScenario | (typeof STALE_CITIES)[number]["name"] | typeof HOME_MISS;
/** How far a stale city's search may fall behind the fresh city's, in throughput and in p99 at the same rate. */
const STALE_CITY_TOLERANCE = 0.2;

export interface TargetCheck {
  /** The table row it belongs to: `peak:<scenario>`, `rate:<scenario>`, `assignment`, `burst` or `cold:<name>`. */
  row: string;
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

/** The rate each open-model run is held at, given the scenario's peak in this run. */
export function fixedRate(scenario: HttpScenario, peak: number): number {
  // create-trip's latency target is stated at 1,000 trips/s; the others at half of their own peak.
  if (scenario === "create-trip") return 1_000;
  return Math.max(100, Math.round(peak / 2));
}

export function checkTargets(report: Omit<BenchReport, "targets">): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const ceiling = report.ceiling.throughput;
  const ratio = (scenario: HttpScenario, minimum: number) => {
    const peak = report.peaks[scenario];
    if (!peak) return;
    const r = peak.throughput / ceiling;
    checks.push({
      row: `peak:${scenario}`,
      what: `${scenario} throughput`,
      target: `≥ ${minimum.toFixed(2)} × hello`,
      measured: `${r.toFixed(2)} × (${peak.throughput}/s vs ${ceiling}/s)`,
      met: r >= minimum && peak.errors === 0,
    });
  };
  const p99 = (scenario: HttpScenario, maxMs: number) => {
    const run = report.atRate[scenario];
    if (!run) return;
    checks.push({
      row: `rate:${scenario}`,
      what: `${scenario} p99 at ${run.rate}/s`,
      target: `≤ ${maxMs} ms`,
      measured: `${run.latency.p99.toFixed(2)} ms`,
      met: run.latency.p99 <= maxMs && run.errors === 0,
    });
  };

  ratio("search-drivers", 0.3);
  p99("search-drivers", 10);
  ratio("update-location", 0.4);
  const create = report.peaks["create-trip"];
  if (create) {
    checks.push({
      row: "peak:create-trip",
      what: "create-trip throughput",
      target: "≥ 4000 trips/s",
      measured: `${create.throughput}/s`,
      met: create.throughput >= 4000 && create.errors === 0,
    });
  }
  p99("create-trip", 25);
  const freshPeak = report.peaks["search-drivers"];
  const freshHeld = report.atRate["search-drivers"];
  for (const { name } of STALE_CITIES) {
    const peak = report.peaks[name];
    const held = report.atRate[name];
    if (freshPeak && peak) {
      const r = peak.throughput / freshPeak.throughput;
      checks.push({
        row: `peak:${name}`,
        what: `${name} throughput`,
        target: `≥ ${(1 - STALE_CITY_TOLERANCE).toFixed(2)} × fresh city`,
        measured: `${r.toFixed(2)} × (${peak.throughput}/s vs ${freshPeak.throughput}/s)`,
        met: r >= 1 - STALE_CITY_TOLERANCE && peak.errors === 0,
      });
    }
    if (freshHeld && held && held.rate === freshHeld.rate) {
      const limit = freshHeld.latency.p99 * (1 + STALE_CITY_TOLERANCE);
      checks.push({
        row: `rate:${name}`,
        what: `${name} p99 at ${held.rate}/s`,
        target: `≤ ${limit.toFixed(2)} ms (fresh city + 20 %)`,
        measured: `${held.latency.p99.toFixed(2)} ms`,
        met: held.latency.p99 <= limit && held.errors === 0,
      });
    }
  }
  if (report.assignment) {
    const a = report.assignment;
    checks.push({
      row: "assignment",
      what: `booked → assigned p99 at ${a.rate} trips/s`,
      target: "≤ 100 ms, all assigned",
      measured: `${a.assignLatency.p99.toFixed(1)} ms (${a.assigned}/${a.booked} assigned)`,
      met: a.assignLatency.p99 <= 100 && a.assigned === a.booked,
    });
  }
  if (report.burst) {
    const b = report.burst;
    checks.push({
      row: "burst",
      what: `${b.count} bookings in a burst drained`,
      target: "≤ 10 s, all assigned",
      measured: `${b.drainSeconds.toFixed(2)} s (${b.assigned}/${b.booked} assigned)`,
      met: b.drainSeconds <= 10 && b.assigned === b.count,
    });
  }
  checks.push(...entryChecks(report.entry));
  for (const start of report.coldStarts.slice(1)) {
    const r = start.vsReference;
    checks.push({
      row: `cold:${start.name}`,
      what: `${start.name} cold start`,
      target: "≤ 2 × bare node, ≤ 80 MB",
      measured: `${start.readyMs} ms = ${r.toFixed(2)} ×, ${start.rssMb} MB`,
      met: r <= 2 && start.rssMb <= 80,
    });
  }
  return checks;
}

/** The k6 scripts' own thresholds, held against the bench's figures for the same load through the entry point. */
function entryChecks(entry: EntryReport | undefined): TargetCheck[] {
  const checks: TargetCheck[] = [];
  // k6's http_req_duration counts from when a request is written, so its thresholds are held against the same span;
  // the figure from when each request was due, which also charges the client's own delays, is shown beside it.
  const latency = (row: string, script: string, run: AtRate, p95: number, p99: number, failed: number) => {
    const failedShare = run.errors / Math.max(1, run.requests + run.errors);
    const limits = Number.isFinite(p95) ? `p95 < ${p95} ms, p99 < ${p99} ms, ` : "";
    const k6Span = run.sendToAnswer ?? run.latency;
    checks.push({
      row,
      what: `${script} thresholds at ${run.rate}/s`,
      target: `${limits}< ${failed * 100} % failed`,
      measured: `sent → answered p95 ${k6Span.p95.toFixed(2)} ms, p99 ${k6Span.p99.toFixed(2)} ms (from due p99 ${run.latency.p99.toFixed(2)} ms), ${(failedShare * 100).toFixed(2)} % failed`,
      met: k6Span.p95 < p95 && k6Span.p99 < p99 && failedShare < failed,
    });
  };
  if (entry?.floodAndSearch) {
    latency("entry:locations", "location-flood.js", entry.floodAndSearch.locations, 10, 25, 0.001);
    latency("entry:searches", "search.js", entry.floodAndSearch.searches, 5, 10, 0.001);
  }
  if (entry?.bookingSpike) {
    const b = entry.bookingSpike.bookings;
    const refused = Object.values(b.bookingErrors).reduce((sum, n) => sum + n, 0);
    const failedShare = refused / Math.max(1, b.booked + refused);
    checks.push({
      row: "entry:bookings",
      what: `booking-spike.js thresholds (warm) at ${b.rate} bookings/s`,
      target: "booked → assigned p95 < 300 ms, p99 < 500 ms; create-trip p99 < 3000 ms; < 1 % failed; < 10 unmatched",
      measured: `p95 ${b.assignLatency.p95.toFixed(1)} ms, p99 ${b.assignLatency.p99.toFixed(1)} ms; create-trip p99 ${b.createLatency.p99.toFixed(1)} ms; ${(failedShare * 100).toFixed(2)} % failed; ${b.noDriver + b.unsettled} unmatched`,
      met:
        b.assignLatency.p95 < 300 &&
        b.assignLatency.p99 < 500 &&
        b.createLatency.p99 < 3000 &&
        failedShare < 0.01 &&
        b.noDriver + b.unsettled < 10,
    });
    latency("entry:spike-locations", "booking-spike.js drivers", entry.bookingSpike.locations, Infinity, Infinity, 0.01);
  }
  return checks;
}

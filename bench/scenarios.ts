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
  /** After update-location's peak run: updates the location history still had to write, and how long it took. */
  history?: { backlog: number; drainSeconds: number };
  coldStarts: ColdStart[];
  targets: TargetCheck[];
}

export const HTTP_SCENARIOS = ["hello", "search-drivers", "update-location", "create-trip"] as const;
export type HttpScenario = (typeof HTTP_SCENARIOS)[number];

/**
 * search-drivers again, in a city where most drivers stopped reporting: a city at night, or after a mobile
 * network blip. Held to the fresh city's figures of the same run.
 */
export const STALE_CITIES = [
  { name: "search-drivers, stale city 90 %", silentShare: 0.9 },
  { name: "search-drivers, stale city 100 %", silentShare: 1 },
] as const;
export type ScenarioName = HttpScenario | (typeof STALE_CITIES)[number]["name"];
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
    checks.push({ row: "peak:create-trip", what: "create-trip throughput", target: "≥ 4000 trips/s", measured: `${create.throughput}/s`, met: create.throughput >= 4000 && create.errors === 0 });
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

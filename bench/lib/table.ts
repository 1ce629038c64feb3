// The one table a bench run prints: every scenario, its figures beside the ceiling, and each target met or missed.
import type { CpuSeconds } from "./cpu";
import type { AtRate, BenchReport, TargetCheck } from "./scenarios";
import type { Percentiles } from "./stats";

interface Row {
  key: string;
  scenario: string;
  load: string;
  throughput: string;
  vsCeiling: string;
  latency: Percentiles | undefined;
  note: string;
}

export function tableRows(report: BenchReport): Row[] {
  const rows: Row[] = [];
  const ceiling = report.ceiling.throughput;
  for (const [scenario, peak] of Object.entries(report.peaks)) {
    rows.push({
      key: `peak:${scenario}`,
      scenario: scenario === "hello" ? "hello (ceiling)" : scenario,
      load: `closed, ${report.settings.peakConnections} conns`,
      throughput: `${peak.throughput}`,
      vsCeiling: (peak.throughput / ceiling).toFixed(2),
      latency: peak.latency,
      note: join(errors(peak.errors, peak.errorKinds), cpuPerRequest(peak.cpu, peak.requests)),
    });
    if (scenario === "update-location" && report.history) {
      const h = report.history;
      rows.push({
        key: "history",
        scenario: "",
        load: "history catch-up",
        throughput: h.drainSeconds > 0 ? `${Math.round(h.backlog / h.drainSeconds)}` : "",
        vsCeiling: "",
        latency: undefined,
        note: `${h.backlog} updates still to write when the load stopped, all written ${h.drainSeconds.toFixed(2)} s later`,
      });
    }
    const held = report.atRate[scenario as keyof BenchReport["atRate"]];
    if (held) {
      rows.push({
        key: `rate:${scenario}`,
        scenario: "",
        load: `open, ${held.rate}/s`,
        throughput: `${held.throughput}`,
        vsCeiling: "",
        latency: held.latency,
        note: join(errors(held.errors, held.errorKinds), cpuPerRequest(held.cpu, held.requests)),
      });
    }
  }
  if (report.assignment) {
    const a = report.assignment;
    rows.push({
      key: "assignment",
      scenario: "booked → assigned",
      load: `open, ${a.rate} trips/s`,
      throughput: `${Math.round(a.booked / a.bookingSeconds)}`,
      vsCeiling: "",
      latency: a.assignLatency,
      note: join(
        `${a.assigned}/${a.booked} assigned${a.noDriver ? `, ${a.noDriver} no_driver` : ""}${a.unsettled ? `, ${a.unsettled} unsettled` : ""}`,
        cpuPerRequest(a.cpu, a.booked),
      ),
    });
  }
  if (report.burst) {
    const b = report.burst;
    const peakBacklog = Math.max(0, ...b.backlog.map((s) => s.depth));
    rows.push({
      key: "burst",
      scenario: `burst of ${b.count} bookings`,
      load: "closed, 64 conns",
      throughput: `${Math.round(b.booked / b.bookingSeconds)}`,
      vsCeiling: "",
      latency: b.assignLatency,
      note: join(
        `booked in ${b.bookingSeconds.toFixed(2)} s, drained in ${b.drainSeconds.toFixed(2)} s, backlog peak ${peakBacklog}, ${b.assigned} assigned`,
        cpuPerRequest(b.cpu, b.booked),
      ),
    });
  }
  const entry = report.entry;
  const viaEntry = (key: string, scenario: string, run: AtRate) =>
    rows.push({
      key,
      scenario,
      load: `open, ${run.rate}/s, entry point`,
      throughput: `${run.throughput}`,
      vsCeiling: (run.throughput / ceiling).toFixed(2),
      latency: run.latency,
      note: join(sentToAnswered(run.sendToAnswer), errors(run.errors, run.errorKinds), cpuPerRequest(run.cpu, run.requests)),
    });
  if (entry?.floodAndSearch) {
    viaEntry("entry:locations", `flood + search (generator +${entry.costUs} µs/req): update-location`, entry.floodAndSearch.locations);
    viaEntry("entry:searches", "flood + search: search-drivers", entry.floodAndSearch.searches);
  }
  if (entry?.bookingSpike) {
    const b = entry.bookingSpike.bookings;
    const refused = Object.entries(b.bookingErrors)
      .map(([kind, n]) => `${kind}: ${n}`)
      .join(", ");
    rows.push({
      key: "entry:bookings",
      scenario: `booking spike (generator +${entry.costUs} µs/req): booked → assigned`,
      load: `open, ${b.rate} trips/s, entry point`,
      throughput: `${Math.round(b.booked / b.bookingSeconds)}`,
      vsCeiling: "",
      latency: b.assignLatency,
      note: join(
        `create-trip p99 ${ms(b.createLatency.p99)} ms, ${b.assigned}/${b.booked} assigned${refused ? `, refused ${refused}` : ""}`,
        cpuPerRequest(b.cpu, b.booked),
      ),
    });
    viaEntry("entry:spike-locations", "booking spike: update-location", entry.bookingSpike.locations);
  }
  for (const start of report.coldStarts) {
    rows.push({
      key: `cold:${start.name}`,
      scenario: `cold start ${start.name}`,
      load: `spawn → ready, ${start.runs} runs`,
      throughput: "",
      vsCeiling: `${start.vsReference.toFixed(2)}× bare`,
      latency: undefined,
      note: `median ${start.readyMs} ms (${start.readyMsRange[0]}–${start.readyMsRange[1]}), ${start.rssMb} MB RSS, bundle ${start.bundleKiB} KiB`,
    });
  }
  return rows;
}

export function printTable(report: BenchReport): void {
  const checks = new Map<string, TargetCheck[]>();
  for (const check of report.targets) checks.set(check.row, [...(checks.get(check.row) ?? []), check]);
  const header = ["scenario", "load", "req/s", "× hello", "p50 ms", "p95 ms", "p99 ms", "target", "", "notes"];
  const body = tableRows(report).map((row) => {
    const targets = checks.get(row.key) ?? [];
    return [
      row.scenario,
      row.load,
      row.throughput,
      row.vsCeiling,
      ms(row.latency?.p50),
      ms(row.latency?.p95),
      ms(row.latency?.p99),
      targets.map((t) => t.target).join("; "),
      targets.length === 0 ? "" : targets.every((t) => t.met) ? "met" : "MISSED",
      row.note,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i >= 2 && i <= 6 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const { machine, versions } = report;
  console.log(`\nUIT-Go bench, ${report.date}: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GB, ${machine.os}`);
  console.log(
    Object.entries(versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(", "),
  );
  console.log(
    `ceiling: hello ${report.ceiling.before.throughput}/s before the scenarios, ${report.ceiling.after?.throughput ?? "—"}/s after; ratios use ${report.ceiling.throughput}/s\n`,
  );
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const cells of body) console.log(line(cells));
  const missed = report.targets.filter((t) => !t.met);
  console.log(
    missed.length === 0
      ? "\nevery target met"
      : `\n${missed.length} of ${report.targets.length} targets missed: ${missed.map((t) => t.what).join("; ")}`,
  );
}

function ms(value: number | undefined): string {
  if (value === undefined) return "";
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

/** The components that used the most CPU, in µs per request (per booking for the trip scenarios). */
export function cpuPerRequest(cpu: CpuSeconds | undefined, requests: number): string {
  if (!cpu || requests === 0) return "";
  const top = Object.entries(cpu).slice(0, 4);
  return `CPU µs/req: ${top.map(([group, seconds]) => `${group} ${Math.round((seconds * 1e6) / requests)}`).join(", ")}`;
}

/** The span k6's http_req_duration measures, which the k6 scripts' thresholds are held against. */
function sentToAnswered(span: Percentiles | undefined): string {
  return span ? `sent → answered p95 ${span.p95.toFixed(2)}, p99 ${span.p99.toFixed(2)} ms` : "";
}

function join(...notes: string[]): string {
  return notes.filter(Boolean).join("; ");
}

function errors(count: number, kinds: Record<string, number>): string {
  if (count === 0) return "";
  return `${count} errors (${Object.entries(kinds)
    .map(([kind, n]) => `${kind}: ${n}`)
    .join(", ")})`;
}

// Bench and k6 results → one self-contained HTML page: targets, a before/after comparison of two bench runs,
// and charts (throughput against the ceiling, latency percentiles over time, errors, the assignment backlog,
// cold starts, and each k6 run). Chart.js is inlined, so the page opens anywhere, offline.
//
//   npm run bench:report                      the latest bench run against bench/results/baseline.json,
//                                             plus every k6 result under loadtests/results/
//   npm run bench:report -- --before a.json --after b.json --k6 x.json --k6 y.ndjson --out report.html
//
// k6 inputs: the JSON its handleSummary writes (or --summary-export's), and for charts over time the
// samples of `k6 run --out json=loadtests/results/<name>.ndjson`.
import { createReadStream, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { BenchReport } from "./lib/scenarios";
import { percentiles, round } from "./lib/stats";

const root = fileURLToPath(new URL("..", import.meta.url));
const benchDir = join(root, "bench", "results");
const k6Dir = join(root, "loadtests", "results");

/** What the page shows of one k6 run. */
export interface K6Run {
  name: string;
  /** metric → statistic → value (p(95), rate, count …), and the thresholds with whether they held. */
  metrics: Record<string, { values: Record<string, number>; thresholds: Record<string, boolean> }>;
  /** Per second: `<metric>` or `<metric>{name}` → p50/p95/p99 (trends) or count (counters, rates' failures). */
  series?: Record<string, { t: number; p50?: number; p95?: number; p99?: number; count?: number }[]>;
}

export interface ReportInput {
  after: BenchReport;
  before?: BenchReport;
  afterLabel: string;
  beforeLabel?: string;
  k6: K6Run[];
}

function latestBenchRun(): string {
  const runs = existsSync(benchDir) ? readdirSync(benchDir).filter((f) => /^\d{4}-.*\.json$/.test(f)).sort() : [];
  if (runs.length === 0) throw new Error("no bench run under bench/results/: run `npm run bench` first, or pass --after");
  return join(benchDir, runs[runs.length - 1]!);
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/**
 * One entry per script: its summary (`<script>-<date>.json` from handleSummary, or `<script>-export.json`
 * from --summary-export; the latest wins) and its samples (`<script>.ndjson`).
 */
export async function readK6Runs(paths: string[]): Promise<K6Run[]> {
  const runs = new Map<string, K6Run>();
  for (const path of paths.sort()) {
    const name = basename(path)
      .replace(/\.(nd)?json$/, "")
      .replace(/-(export|\d{4}-\d\d-\d\dT[\d-]+Z)$/, "");
    if (path.endsWith(".ndjson")) {
      const run = runs.get(name) ?? { name, metrics: {} };
      run.series = await k6Series(path);
      runs.set(name, run);
    } else {
      runs.set(name, { ...(runs.get(name) ?? { name }), name, metrics: k6Summary(readJson(path)) });
    }
  }
  return [...runs.values()];
}

type SummaryMetric = { values?: Record<string, number>; thresholds?: Record<string, { ok: boolean } | boolean> } & Record<string, unknown>;

/** handleSummary's data (values under `values`) or --summary-export's (values on the metric itself). */
export function k6Summary(summary: { metrics?: Record<string, SummaryMetric> }): K6Run["metrics"] {
  const metrics: K6Run["metrics"] = {};
  for (const [name, metric] of Object.entries(summary.metrics ?? {})) {
    const values: Record<string, number> = {};
    for (const [key, value] of Object.entries(metric.values ?? metric)) if (typeof value === "number") values[key] = value;
    const thresholds: Record<string, boolean> = {};
    for (const [expr, result] of Object.entries(metric.thresholds ?? {})) {
      // --summary-export writes `true` when the threshold was crossed; handleSummary writes {ok}.
      thresholds[expr] = typeof result === "boolean" ? !result : result.ok;
    }
    metrics[name] = { values, thresholds };
  }
  return metrics;
}

/** k6's JSON output, one sample a line, bucketed per second: percentiles for trends, counts for the rest. */
async function k6Series(path: string): Promise<NonNullable<K6Run["series"]>> {
  const trends = new Map<string, number[][]>();
  const counts = new Map<string, number[]>();
  let start: number | undefined;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.startsWith('{"metric"') && !line.includes('"type":"Point"')) continue;
    const point = JSON.parse(line) as { type: string; metric: string; data: { time: string; value: number; tags?: Record<string, string> } };
    if (point.type !== "Point") continue;
    const at = Date.parse(point.data.time);
    start ??= at;
    const second = Math.max(0, Math.floor((at - start) / 1000));
    const tag = point.data.tags?.name;
    const keys = tag && point.metric.startsWith("http_req") ? [point.metric, `${point.metric}{${tag}}`] : [point.metric];
    for (const key of keys) {
      if (["http_req_duration", "booked_to_assigned", "iteration_duration"].includes(point.metric)) {
        const buckets = trends.get(key) ?? [];
        (buckets[second] ??= []).push(point.data.value);
        trends.set(key, buckets);
      } else if (point.metric === "http_reqs" || point.metric === "iterations" || ((point.metric === "http_req_failed" || point.metric.startsWith("trips_")) && point.data.value > 0)) {
        const buckets = counts.get(key) ?? [];
        buckets[second] = (buckets[second] ?? 0) + point.data.value;
        counts.set(key, buckets);
      }
    }
  }
  const series: NonNullable<K6Run["series"]> = {};
  for (const [key, buckets] of trends) {
    series[key] = [...buckets.keys()].map((t) => {
      const { p50, p95, p99 } = percentiles(buckets[t] ?? []);
      return { t, p50: round(p50), p95: round(p95), p99: round(p99) };
    });
  }
  for (const [key, buckets] of counts) series[key] = [...buckets.keys()].map((t) => ({ t, count: buckets[t] ?? 0 }));
  return series;
}

export function renderReport(input: ReportInput): string {
  // The UMD build is not among chart.js's exports; it sits beside the CommonJS one.
  const chartJs = readFileSync(join(dirname(createRequire(import.meta.url).resolve("chart.js")), "chart.umd.min.js"), "utf8");
  const data = JSON.stringify(input).replace(/</g, "\\u003c");
  const { after } = input;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>UIT-Go performance, ${escape(after.date)}</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #1d2330; }
  h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #d8dde6; }
  table { border-collapse: collapse; margin: 1rem 0; } td, th { padding: .3rem .7rem; border-bottom: 1px solid #e4e7ee; text-align: left; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .met { color: #17803d; font-weight: 600; } .missed { color: #c0262d; font-weight: 600; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 1.5rem; }
  .chart { position: relative; height: 300px; } .note { color: #5b6475; }
</style>
</head>
<body>
<h1>UIT-Go performance</h1>
<p class="note" id="context"></p>
<h2>Targets</h2>
<div id="targets"></div>
<h2>Throughput against the ceiling</h2>
<p class="note">Peak throughput of each function (closed model, the load generator in its own process), beside a bare Hono
“hello” function on the same HTTP bootstrap measured in the same run: the ratio is what to compare between runs and machines.</p>
<div class="grid"><div class="chart"><canvas id="throughput"></canvas></div><div class="chart"><canvas id="ratios"></canvas></div></div>
<h2>Where the CPU goes</h2>
<p class="note">CPU time per request (per booking for the trip scenarios) of each process, read from /proc over the measured window.
Everything shares the machine's cores, so these shares are what bounds each figure.</p>
<div class="chart" style="height: 420px"><canvas id="cpu"></canvas></div>
<h2>Latency over time at a fixed arrival rate</h2>
<p class="note">Open model: each latency counts from when the request was due, so a stall is charged to every request it delayed.</p>
<div class="grid" id="latency"></div>
<h2>Errors</h2>
<div class="grid"><div class="chart"><canvas id="errors"></canvas></div></div>
<h2>Assignment and the booking backlog</h2>
<div class="grid" id="assignment"></div>
<h2>Cold starts</h2>
<p class="note">Process spawn → first 200 from the readiness probe (every dependency answered), median of several starts, and resident memory then.</p>
<div class="grid"><div class="chart"><canvas id="cold"></canvas></div><div class="chart"><canvas id="memory"></canvas></div></div>
<h2>k6 runs</h2>
<div id="k6"></div>
<script>${chartJs}</script>
<script type="application/json" id="data">${data}</script>
<script>
${CLIENT_SCRIPT}
</script>
</body>
</html>
`;
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Runs in the page: builds the tables and charts from the embedded data.
const CLIENT_SCRIPT = String.raw`
const input = JSON.parse(document.getElementById("data").textContent);
const { after, before } = input;
const runs = before ? [[input.beforeLabel + " (before)", before], [input.afterLabel + " (after)", after]] : [[input.afterLabel, after]];
const colours = ["#9aa5b8", "#2f6fde", "#e0832f", "#17803d", "#c0262d", "#7a4fd0"];
const el = (tag, attrs = {}, text) => { const e = document.createElement(tag); Object.assign(e, attrs); if (text !== undefined) e.textContent = text; return e; };

document.getElementById("context").textContent =
  after.machine.cores + " cores (" + after.machine.cpu + "), " + after.machine.memoryGb + " GB; " +
  Object.entries(after.versions).map(([k, v]) => k + " " + v).join(", ") + ". Command: " + after.command + ", " + after.date + ".";

function table(headers, rows) {
  const t = el("table");
  const head = t.createTHead().insertRow();
  for (const h of headers) head.appendChild(el("th", {}, h));
  for (const row of rows) {
    const tr = t.insertRow();
    for (const cell of row) {
      const td = tr.insertCell();
      if (cell && typeof cell === "object") { td.textContent = cell.text; td.className = cell.cls || ""; } else { td.textContent = cell ?? ""; if (typeof cell === "number") td.className = "num"; }
    }
  }
  return t;
}
const verdict = (met) => ({ text: met ? "met" : "missed", cls: met ? "met" : "missed" });

{
  const beforeBy = new Map((before?.targets ?? []).map((t) => [t.row + "|" + t.what.replace(/\d+(\.\d+)?\/s/, ""), t]));
  const rows = after.targets.map((t) => {
    const b = beforeBy.get(t.row + "|" + t.what.replace(/\d+(\.\d+)?\/s/, ""));
    return before ? [t.what, t.target, b ? b.measured : "", b ? verdict(b.met) : "", t.measured, verdict(t.met)] : [t.what, t.target, t.measured, verdict(t.met)];
  });
  document.getElementById("targets").appendChild(table(before ? ["what", "target", "before", "", "after", ""] : ["what", "target", "measured", ""], rows));
}

function chart(canvas, type, data, options = {}) {
  return new Chart(canvas, { type, data, options: { animation: false, maintainAspectRatio: false, responsive: true, ...options } });
}
function chartBox(parent, title) {
  const box = el("div", { className: "chart" });
  const canvas = el("canvas");
  box.appendChild(canvas);
  parent.appendChild(box);
  return (type, data, options = {}) => chart(canvas, type, data, { plugins: { title: { display: true, text: title } }, ...options });
}

const scenarios = Object.keys(after.peaks);
chart(document.getElementById("throughput"), "bar", {
  labels: scenarios,
  datasets: runs.map(([label, run], i) => ({ label, backgroundColor: colours[i], data: scenarios.map((s) => run.peaks[s]?.throughput ?? null) })),
}, { plugins: { title: { display: true, text: "peak requests per second" } } });
chart(document.getElementById("ratios"), "bar", {
  labels: scenarios.filter((s) => s !== "hello"),
  datasets: runs.map(([label, run], i) => ({ label, backgroundColor: colours[i], data: scenarios.filter((s) => s !== "hello").map((s) => run.peaks[s] ? run.peaks[s].throughput / run.ceiling.throughput : null) })),
}, { plugins: { title: { display: true, text: "× the hello ceiling of the same run" } } });

{
  const rows = [];
  for (const [scenario, peak] of Object.entries(after.peaks)) if (peak.cpu) rows.push([scenario + " peak", peak.cpu, peak.requests]);
  for (const [scenario, held] of Object.entries(after.atRate)) if (held.cpu) rows.push([scenario + " at " + held.rate + "/s", held.cpu, held.requests]);
  if (after.assignment?.cpu) rows.push(["booked → assigned at " + after.assignment.rate + "/s", after.assignment.cpu, after.assignment.booked]);
  if (after.burst?.cpu) rows.push(["burst of " + after.burst.count, after.burst.cpu, after.burst.booked]);
  const groups = [...new Set(rows.flatMap(([, cpu]) => Object.keys(cpu)))];
  // As many distinct colours as there are processes: hues a golden angle apart.
  const palette = groups.map((_, i) => "hsl(" + Math.round((i * 137.5) % 360) + " 60% 50%)");
  chart(document.getElementById("cpu"), "bar", {
    labels: rows.map(([label]) => label),
    datasets: groups.map((group, i) => ({ label: group, backgroundColor: palette[i % palette.length], data: rows.map(([, cpu, n]) => ((cpu[group] ?? 0) * 1e6) / n) })),
  }, { indexAxis: "y", scales: { x: { stacked: true, title: { display: true, text: "CPU µs per request" } }, y: { stacked: true } } });
}

const latency = document.getElementById("latency");
for (const [scenario, held] of Object.entries(after.atRate)) {
  const t = held.timeline;
  chartBox(latency, scenario + " at " + held.rate + "/s: latency (ms) per second")("line", {
    labels: t.map((s) => s.t),
    datasets: ["p50", "p95", "p99"].map((p, i) => ({ label: p, borderColor: colours[i + 1], pointRadius: 0, data: t.map((s) => s[p]) })),
  });
}

{
  const series = [];
  for (const [scenario, held] of Object.entries(after.atRate)) series.push([scenario + " at " + held.rate + "/s", held.timeline]);
  for (const [scenario, peak] of Object.entries(after.peaks)) series.push([scenario + " peak", peak.timeline]);
  const length = Math.max(...series.map(([, t]) => t.length));
  chart(document.getElementById("errors"), "line", {
    labels: Array.from({ length }, (_, i) => i),
    datasets: series.map(([label, t], i) => ({ label, borderColor: colours[i % colours.length], pointRadius: 0, data: t.map((s) => s.errors) })),
  }, { plugins: { title: { display: true, text: "errors per second (" + series.reduce((n, [, t]) => n + t.reduce((m, s) => m + s.errors, 0), 0) + " in all)" } } });
}

{
  const box = document.getElementById("assignment");
  if (after.assignment) {
    const t = after.assignment.timeline;
    chartBox(box, "booked → assigned at " + after.assignment.rate + " trips/s (ms, by second of booking)")("line", {
      labels: t.map((s) => s.t),
      datasets: ["p50", "p95", "p99"].map((p, i) => ({ label: p, borderColor: colours[i + 1], pointRadius: 0, data: t.map((s) => s[p]) })),
    });
  }
  const bursts = runs.filter(([, run]) => run.burst);
  if (bursts.length > 0) {
    chartBox(box, "assign-driver backlog during a burst of " + after.burst?.count + " bookings (pending + unacknowledged)")("line", {
      datasets: bursts.map(([label, run], i) => ({ label: label + ": drained in " + run.burst.drainSeconds + " s", borderColor: colours[i], pointRadius: 0, data: run.burst.backlog.map((s) => ({ x: s.t, y: s.depth })) })),
    }, { scales: { x: { type: "linear", title: { display: true, text: "seconds since the first booking" } } } });
  }
}

{
  const names = after.coldStarts.map((c) => c.name);
  const dataset = (key) => runs.map(([label, run], i) => ({ label, backgroundColor: colours[i], data: names.map((n) => run.coldStarts.find((c) => c.name === n)?.[key] ?? null) }));
  chart(document.getElementById("cold"), "bar", { labels: names, datasets: dataset("readyMs") }, { plugins: { title: { display: true, text: "spawn → ready (ms)" } } });
  chart(document.getElementById("memory"), "bar", { labels: names, datasets: dataset("rssMb") }, { plugins: { title: { display: true, text: "resident memory after start (MB)" } } });
}

{
  const box = document.getElementById("k6");
  if (input.k6.length === 0) box.appendChild(el("p", { className: "note" }, "No k6 results under loadtests/results/."));
  for (const run of input.k6) {
    box.appendChild(el("h3", {}, run.name));
    const rows = [];
    for (const [metric, { values, thresholds }] of Object.entries(run.metrics)) {
      const stats = ["p(50)", "med", "p(95)", "p(99)", "rate", "count"].filter((k) => values[k] !== undefined).map((k) => k + " " + (+values[k].toFixed(3))).join(", ");
      const checks = Object.entries(thresholds);
      if (checks.length === 0 && !/^(http_req_duration|booked_to_assigned|http_reqs|http_req_failed|iterations|dropped_iterations)/.test(metric)) continue;
      rows.push([metric, stats, checks.map(([expr]) => expr).join("; "), checks.length === 0 ? "" : verdict(checks.every(([, ok]) => ok))]);
    }
    if (rows.length > 0) box.appendChild(table(["metric", "figures", "thresholds", ""], rows));
    if (!run.series) continue;
    const grid = el("div", { className: "grid" });
    box.appendChild(grid);
    for (const [key, points] of Object.entries(run.series)) {
      if (points[0]?.p50 !== undefined) {
        chartBox(grid, run.name + ": " + key + " (ms per second)")("line", {
          labels: points.map((p) => p.t),
          datasets: ["p50", "p95", "p99"].map((p, i) => ({ label: p, borderColor: colours[i + 1], pointRadius: 0, data: points.map((s) => s[p]) })),
        });
      }
    }
    const counters = Object.entries(run.series).filter(([, points]) => points[0]?.count !== undefined);
    if (counters.length > 0) {
      chartBox(grid, run.name + ": per second")("line", {
        datasets: counters.map(([key, points], i) => ({ label: key, borderColor: colours[i % colours.length], pointRadius: 0, data: points.map((p) => ({ x: p.t, y: p.count })) })),
      }, { scales: { x: { type: "linear" } } });
    }
  }
}
`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      before: { type: "string" },
      after: { type: "string" },
      k6: { type: "string", multiple: true },
      out: { type: "string", default: join(benchDir, "report.html") },
    },
  });
  const afterPath = values.after ?? latestBenchRun();
  const beforePath = values.before ?? (existsSync(join(benchDir, "baseline.json")) ? join(benchDir, "baseline.json") : undefined);
  const k6Paths = values.k6 ?? (existsSync(k6Dir) ? readdirSync(k6Dir).filter((f) => /\.(json|ndjson)$/.test(f)).map((f) => join(k6Dir, f)) : []);
  const input: ReportInput = {
    after: readJson<BenchReport>(afterPath),
    afterLabel: basename(afterPath),
    ...(beforePath && beforePath !== afterPath && { before: readJson<BenchReport>(beforePath), beforeLabel: basename(beforePath) }),
    k6: await readK6Runs(k6Paths),
  };
  writeFileSync(values.out, renderReport(input));
  console.log(`report: ${values.out}`);
}

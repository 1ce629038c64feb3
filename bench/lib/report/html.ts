// Bench and k6 results → one self-contained HTML page. Chart.js and the page's script are inlined, so the page
// opens anywhere, offline.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { BenchReport } from "../scenarios";
import type { K6Run } from "./k6-runs";

export interface ReportInput {
  after: BenchReport;
  before?: BenchReport;
  afterLabel: string;
  beforeLabel?: string;
  k6: K6Run[];
}

// Read once, with the module: the script is the same for every report.
const PAGE_SCRIPT = readFileSync(new URL("./page.js", import.meta.url), "utf8");

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
${PAGE_SCRIPT}
</script>
</body>
</html>
`;
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

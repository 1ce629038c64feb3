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
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { renderReport, type ReportInput } from "./lib/report/html";
import { readK6Runs } from "./lib/report/k6-runs";
import type { BenchReport } from "./lib/scenarios";

const root = fileURLToPath(new URL("..", import.meta.url));
const benchDir = join(root, "bench", "results");
const k6Dir = join(root, "loadtests", "results");

function latestBenchRun(): string {
  const runs = existsSync(benchDir)
    ? readdirSync(benchDir)
        .filter((f) => /^\d{4}-.*\.json$/.test(f))
        .sort()
    : [];
  if (runs.length === 0) throw new Error("no bench run under bench/results/: run `npm run bench` first, or pass --after");
  return join(benchDir, runs[runs.length - 1]!);
}

function readBenchReport(path: string): BenchReport {
  return JSON.parse(readFileSync(path, "utf8")) as BenchReport;
}

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
const k6Paths =
  values.k6 ??
  (existsSync(k6Dir)
    ? readdirSync(k6Dir)
        .filter((f) => /\.(json|ndjson)$/.test(f))
        .map((f) => join(k6Dir, f))
    : []);
const input: ReportInput = {
  after: readBenchReport(afterPath),
  afterLabel: basename(afterPath),
  ...(beforePath && beforePath !== afterPath && { before: readBenchReport(beforePath), beforeLabel: basename(beforePath) }),
  k6: await readK6Runs(k6Paths),
};
writeFileSync(values.out, renderReport(input));
console.log(`report: ${values.out}`);

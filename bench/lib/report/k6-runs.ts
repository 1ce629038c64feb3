// k6's results as the report shows them: each script's summary, and its samples bucketed per second.
import { createReadStream, readFileSync } from "node:fs";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { percentiles, round } from "../stats";

/** What the page shows of one k6 run. */
export interface K6Run {
  name: string;
  /** metric → statistic → value (p(95), rate, count …), and the thresholds with whether they held. */
  metrics: Record<string, { values: Record<string, number>; thresholds: Record<string, boolean> }>;
  /** Per second: `<metric>` or `<metric>{name}` → p50/p95/p99 (trends) or count (counters, rates' failures). */
  series?: Record<string, { t: number; p50?: number; p95?: number; p99?: number; count?: number }[]>;
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
    const point = JSON.parse(line) as {
      type: string;
      metric: string;
      data: { time: string; value: number; tags?: Record<string, string> };
    };
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
      } else if (
        point.metric === "http_reqs" ||
        point.metric === "iterations" ||
        ((point.metric === "http_req_failed" || point.metric.startsWith("trips_")) && point.data.value > 0)
      ) {
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

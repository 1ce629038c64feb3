// @ts-check
// Runs in the report page (bench/lib/report/html.ts inlines it after Chart.js and the report's data): builds the
// tables and charts from the embedded data.

/** @typedef {import("./html").ReportInput} ReportInput */

/** @param {string} id an element the page's HTML always has */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @type {ReportInput} */
const input = JSON.parse(/** @type {string} */ (byId("data").textContent));
const { after, before } = input;
/** @type {[string, ReportInput["after"]][]} */
const runs = before
  ? [
      [input.beforeLabel + " (before)", before],
      [input.afterLabel + " (after)", after],
    ]
  : [[input.afterLabel, after]];
const colours = ["#9aa5b8", "#2f6fde", "#e0832f", "#17803d", "#c0262d", "#7a4fd0"];
/**
 * A timeline's p50, p95 and p99 as three chart lines, in the colours every latency chart of the page uses.
 * @param {{ p50?: number, p95?: number, p99?: number }[]} points
 */
const percentileLines = (points) =>
  /** @type {const} */ (["p50", "p95", "p99"]).map((p, i) => ({
    label: p,
    borderColor: colours[i + 1],
    pointRadius: 0,
    data: points.map((s) => s[p]),
  }));
/** @type {(tag: string, attrs?: object, text?: string) => HTMLElement} */
const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag);
  Object.assign(e, attrs);
  if (text !== undefined) e.textContent = text;
  return e;
};

byId("context").textContent =
  after.machine.cores +
  " cores (" +
  after.machine.cpu +
  "), " +
  after.machine.memoryGb +
  " GB; " +
  Object.entries(after.versions)
    .map(([k, v]) => k + " " + v)
    .join(", ") +
  ". Command: " +
  after.command +
  ", " +
  after.date +
  ".";

/**
 * @param {string[]} headers
 * @param {any[][]} rows cells: text, numbers, or `{ text, cls }`
 */
function table(headers, rows) {
  const t = /** @type {HTMLTableElement} */ (el("table"));
  const head = t.createTHead().insertRow();
  for (const h of headers) head.appendChild(el("th", {}, h));
  for (const row of rows) {
    const tr = t.insertRow();
    for (const cell of row) {
      const td = tr.insertCell();
      if (cell && typeof cell === "object") {
        td.textContent = cell.text;
        td.className = cell.cls || "";
      } else {
        td.textContent = cell ?? "";
        if (typeof cell === "number") td.className = "num";
      }
    }
  }
  return t;
}
/** @param {boolean} met */
const verdict = (met) => ({ text: met ? "met" : "missed", cls: met ? "met" : "missed" });

{
  const beforeBy = new Map((before?.targets ?? []).map((t) => [t.row + "|" + t.what.replace(/\d+(\.\d+)?\/s/, ""), t]));
  const rows = after.targets.map((t) => {
    const b = beforeBy.get(t.row + "|" + t.what.replace(/\d+(\.\d+)?\/s/, ""));
    return before
      ? [t.what, t.target, b ? b.measured : "", b ? verdict(b.met) : "", t.measured, verdict(t.met)]
      : [t.what, t.target, t.measured, verdict(t.met)];
  });
  byId("targets").appendChild(table(before ? ["what", "target", "before", "", "after", ""] : ["what", "target", "measured", ""], rows));
}

/**
 * @param {HTMLElement} canvas
 * @param {string} type
 * @param {object} data
 * @param {object} [options]
 */
function chart(canvas, type, data, options = {}) {
  // Chart.js is the UMD script the page inlines before this one.
  return new /** @type {any} */ (window).Chart(canvas, {
    type,
    data,
    options: { animation: false, maintainAspectRatio: false, responsive: true, ...options },
  });
}
/**
 * A chart of its own under `parent`, titled; returns the function that draws it.
 * @param {HTMLElement} parent
 * @param {string} title
 * @returns {(type: string, data: object, options?: object) => unknown}
 */
function chartBox(parent, title) {
  const box = el("div", { className: "chart" });
  const canvas = el("canvas");
  box.appendChild(canvas);
  parent.appendChild(box);
  return (type, data, options = {}) => chart(canvas, type, data, { plugins: { title: { display: true, text: title } }, ...options });
}

const scenarios = /** @type {import("../scenarios").ScenarioName[]} */ (Object.keys(after.peaks));
chart(
  byId("throughput"),
  "bar",
  {
    labels: scenarios,
    datasets: runs.map(([label, run], i) => ({
      label,
      backgroundColor: colours[i],
      data: scenarios.map((s) => run.peaks[s]?.throughput ?? null),
    })),
  },
  { plugins: { title: { display: true, text: "peak requests per second" } } },
);
chart(
  byId("ratios"),
  "bar",
  {
    labels: scenarios.filter((s) => s !== "hello"),
    datasets: runs.map(([label, run], i) => ({
      label,
      backgroundColor: colours[i],
      data: scenarios.filter((s) => s !== "hello").map((s) => (run.peaks[s] ? run.peaks[s].throughput / run.ceiling.throughput : null)),
    })),
  },
  { plugins: { title: { display: true, text: "× the hello ceiling of the same run" } } },
);

{
  /** @type {any[][]} */
  const rows = [];
  for (const [scenario, peak] of Object.entries(after.peaks)) if (peak.cpu) rows.push([scenario + " peak", peak.cpu, peak.requests]);
  for (const [scenario, held] of Object.entries(after.atRate))
    if (held.cpu) rows.push([scenario + " at " + held.rate + "/s", held.cpu, held.requests]);
  if (after.assignment?.cpu)
    rows.push(["booked → assigned at " + after.assignment.rate + "/s", after.assignment.cpu, after.assignment.booked]);
  if (after.burst?.cpu) rows.push(["burst of " + after.burst.count, after.burst.cpu, after.burst.booked]);
  const groups = [...new Set(rows.flatMap(([, cpu]) => Object.keys(cpu)))];
  // As many distinct colours as there are processes: hues a golden angle apart.
  const palette = groups.map((_, i) => "hsl(" + Math.round((i * 137.5) % 360) + " 60% 50%)");
  chart(
    byId("cpu"),
    "bar",
    {
      labels: rows.map(([label]) => label),
      datasets: groups.map((group, i) => ({
        label: group,
        backgroundColor: palette[i % palette.length],
        data: rows.map(([, cpu, n]) => ((cpu[group] ?? 0) * 1e6) / n),
      })),
    },
    { indexAxis: "y", scales: { x: { stacked: true, title: { display: true, text: "CPU µs per request" } }, y: { stacked: true } } },
  );
}

const latency = byId("latency");
for (const [scenario, held] of Object.entries(after.atRate)) {
  const t = held.timeline;
  chartBox(latency, scenario + " at " + held.rate + "/s: latency (ms) per second")("line", {
    labels: t.map((s) => s.t),
    datasets: percentileLines(t),
  });
}

{
  /** @type {[string, import("../stats").LoadResult["timeline"]][]} */
  const series = [];
  for (const [scenario, held] of Object.entries(after.atRate)) series.push([scenario + " at " + held.rate + "/s", held.timeline]);
  for (const [scenario, peak] of Object.entries(after.peaks)) series.push([scenario + " peak", peak.timeline]);
  const length = Math.max(...series.map(([, t]) => t.length));
  chart(
    byId("errors"),
    "line",
    {
      labels: Array.from({ length }, (_, i) => i),
      datasets: series.map(([label, t], i) => ({
        label,
        borderColor: colours[i % colours.length],
        pointRadius: 0,
        data: t.map((s) => s.errors),
      })),
    },
    {
      plugins: {
        title: {
          display: true,
          text: "errors per second (" + series.reduce((n, [, t]) => n + t.reduce((m, s) => m + s.errors, 0), 0) + " in all)",
        },
      },
    },
  );
}

{
  const box = byId("assignment");
  if (after.assignment) {
    const t = after.assignment.timeline;
    chartBox(box, "booked → assigned at " + after.assignment.rate + " trips/s (ms, by second of booking)")("line", {
      labels: t.map((s) => s.t),
      datasets: percentileLines(t),
    });
  }
  /** @type {[string, Required<Pick<ReportInput["after"], "burst">>][]} */
  const bursts = /** @type {any} */ (runs.filter(([, run]) => run.burst));
  if (bursts.length > 0) {
    chartBox(box, "assign-driver backlog during a burst of " + after.burst?.count + " bookings (pending + unacknowledged)")(
      "line",
      {
        datasets: bursts.map(([label, run], i) => ({
          label: label + ": drained in " + run.burst.drainSeconds + " s",
          borderColor: colours[i],
          pointRadius: 0,
          data: run.burst.backlog.map((s) => ({ x: s.t, y: s.depth })),
        })),
      },
      { scales: { x: { type: "linear", title: { display: true, text: "seconds since the first booking" } } } },
    );
  }
}

{
  const names = after.coldStarts.map((c) => c.name);
  /** @param {"readyMs" | "rssMb"} key */
  const dataset = (key) =>
    runs.map(([label, run], i) => ({
      label,
      backgroundColor: colours[i],
      data: names.map((n) => run.coldStarts.find((c) => c.name === n)?.[key] ?? null),
    }));
  chart(
    byId("cold"),
    "bar",
    { labels: names, datasets: dataset("readyMs") },
    { plugins: { title: { display: true, text: "spawn → ready (ms)" } } },
  );
  chart(
    byId("memory"),
    "bar",
    { labels: names, datasets: dataset("rssMb") },
    { plugins: { title: { display: true, text: "resident memory after start (MB)" } } },
  );
}

{
  const box = byId("k6");
  if (input.k6.length === 0) box.appendChild(el("p", { className: "note" }, "No k6 results under loadtests/results/."));
  for (const run of input.k6) {
    box.appendChild(el("h3", {}, run.name));
    /** @type {any[][]} */
    const rows = [];
    for (const [metric, { values, thresholds }] of Object.entries(run.metrics)) {
      const stats = ["p(50)", "med", "p(95)", "p(99)", "rate", "count"]
        .filter((k) => values[k] !== undefined)
        .map((k) => k + " " + +(/** @type {number} */ (values[k]).toFixed(3)))
        .join(", ");
      const checks = Object.entries(thresholds);
      if (
        checks.length === 0 &&
        !/^(http_req_duration|booked_to_assigned|http_reqs|http_req_failed|iterations|dropped_iterations)/.test(metric)
      )
        continue;
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
          datasets: percentileLines(points),
        });
      }
    }
    const counters = Object.entries(run.series).filter(([, points]) => points[0]?.count !== undefined);
    if (counters.length > 0) {
      chartBox(grid, run.name + ": per second")(
        "line",
        {
          datasets: counters.map(([key, points], i) => ({
            label: key,
            borderColor: colours[i % colours.length],
            pointRadius: 0,
            data: points.map((p) => ({ x: p.t, y: p.count })),
          })),
        },
        { scales: { x: { type: "linear" } } },
      );
    }
  }
}

// The bench's own parts that a wrong figure could come from: the load generator's HTTP client, the
// percentiles, and the report's reading of k6 results.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Connection } from "./lib/load/connection";
import { renderReport } from "./lib/report/html";
import { k6Summary, readK6Runs } from "./lib/report/k6-runs";
import { checkTargets, type BenchReport } from "./lib/scenarios";
import { Recorder, percentiles } from "./lib/stats";

describe("the load generator's connection", () => {
  let server: Server;
  let port: number;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        if (req.url === "/json") res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ echo: body }));
        else if (req.url === "/chunked") {
          res.writeHead(201);
          res.write('{"part":1,');
          res.end('"rest":"0\\r\\n"}');
        } else if (req.url === "/empty") res.writeHead(202).end();
        else if (req.url === "/close") res.writeHead(200, { connection: "close" }).end("bye");
        else res.writeHead(404).end();
      });
    });
    server.on("connection", () => connections++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("reads answers framed by Content-Length, by chunks, or empty, one after another on one socket", async () => {
    const connection = new Connection("127.0.0.1", port);
    const before = connections;
    const json = await connection.send({ method: "POST", path: "/json", headers: { "content-type": "application/json" }, body: '{"a":1}' });
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body.toString())).toEqual({ echo: '{"a":1}' });
    const chunked = await connection.send({ method: "GET", path: "/chunked", headers: {} });
    expect(chunked.status).toBe(201);
    expect(JSON.parse(chunked.body.toString())).toEqual({ part: 1, rest: "0\r\n" });
    expect((await connection.send({ method: "POST", path: "/empty", headers: {} })).status).toBe(202);
    expect((await connection.send({ method: "GET", path: "/missing", headers: {} })).status).toBe(404);
    expect(connections - before).toBe(1);
    connection.close();
  });

  it("opens a new socket after the server closes one", async () => {
    const connection = new Connection("127.0.0.1", port);
    expect((await connection.send({ method: "GET", path: "/close", headers: {} })).body.toString()).toBe("bye");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await connection.send({ method: "POST", path: "/empty", headers: {} })).status).toBe(202);
    connection.close();
  });
});

describe("percentiles", () => {
  it("are exact ranks of the samples", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(samples)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100, mean: 50.5 });
    expect(percentiles([])).toEqual({ p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  });

  it("are kept per second, with the errors, from the start of the measured window", () => {
    const recorder = new Recorder(1_000);
    recorder.ok(1_200, 2);
    recorder.ok(1_900, 4);
    recorder.ok(2_100, 8);
    recorder.error(2_500, "503");
    const result = recorder.result(2);
    expect(result).toMatchObject({ requests: 3, errors: 1, errorKinds: { "503": 1 }, throughput: 2 });
    expect(result.timeline.map(({ t, requests, errors, p99 }) => ({ t, requests, errors, p99 }))).toEqual([
      { t: 0, requests: 2, errors: 0, p99: 4 },
      { t: 1, requests: 1, errors: 1, p99: 8 },
    ]);
  });

  it("keep the span from send to answer apart from the latency from when each request was due", () => {
    const recorder = new Recorder(0);
    recorder.ok(10, 9, 1);
    recorder.ok(20, 12, 2);
    const result = recorder.result(1);
    expect(result.latency.p99).toBe(12);
    expect(result.sendToAnswer).toMatchObject({ p50: 1, p99: 2 });

    const closed = new Recorder(0);
    closed.ok(10, 3);
    expect(closed.result(1).sendToAnswer).toBeUndefined();
  });
});

describe("the report", () => {
  it("reads k6 summaries from handleSummary and from --summary-export alike", () => {
    const fromHandleSummary = k6Summary({
      metrics: { http_req_failed: { values: { rate: 0.002 }, thresholds: { "rate<0.001": { ok: false } } } },
    });
    const fromExport = k6Summary({ metrics: { http_req_failed: { rate: 0.002, thresholds: { "rate<0.001": true } } } });
    expect(fromHandleSummary).toEqual({ http_req_failed: { values: { rate: 0.002 }, thresholds: { "rate<0.001": false } } });
    expect(fromExport).toEqual(fromHandleSummary);
  });

  it("puts a script's summary and samples together, samples per second", async () => {
    const dir = mkdtempSync(join(tmpdir(), "uitgo-k6-"));
    const summary = join(dir, "search-2026-11-21T10-00-00-000Z.json");
    writeFileSync(summary, JSON.stringify({ metrics: { http_reqs: { values: { count: 3 } } } }));
    const samples = join(dir, "search.ndjson");
    const point = (time: string, metric: string, value: number) =>
      JSON.stringify({ type: "Point", metric, data: { time, value, tags: { name: "search-drivers" } } });
    writeFileSync(
      samples,
      [
        point("2026-11-21T10:00:00.100Z", "http_req_duration", 2),
        point("2026-11-21T10:00:00.200Z", "http_req_duration", 4),
        point("2026-11-21T10:00:01.100Z", "http_req_duration", 6),
        point("2026-11-21T10:00:01.100Z", "http_req_failed", 1),
      ].join("\n"),
    );
    const [run, ...others] = await readK6Runs([summary, samples]);
    expect(others).toEqual([]);
    expect(run!.name).toBe("search");
    expect(run!.metrics.http_reqs!.values.count).toBe(3);
    expect(run!.series!["http_req_duration{search-drivers}"]).toEqual([
      { t: 0, p50: 2, p95: 4, p99: 4 },
      { t: 1, p50: 6, p95: 6, p99: 6 },
    ]);
    expect(run!.series!.http_req_failed).toEqual([
      { t: 0, count: 0 },
      { t: 1, count: 1 },
    ]);
  });

  it("is one page with Chart.js inside and the data where no text can close its script", () => {
    const bench = {
      date: "</script><b>",
      machine: { cores: 2, cpu: "x", memoryGb: 1, os: "Linux" },
      versions: {},
      peaks: {},
      atRate: {},
      coldStarts: [],
      targets: [],
    };
    const html = renderReport({ after: bench as unknown as BenchReport, afterLabel: "run.json", k6: [] });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("Chart.js v");
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    const data = /<script type="application\/json" id="data">(.*?)<\/script>/s.exec(html)![1]!;
    expect(JSON.parse(data).after.date).toBe("</script><b>");
  });
});

describe("the targets", () => {
  const run = (throughput: number, p99: number, errors = 0) => ({
    requests: 1000,
    errors,
    errorKinds: {},
    seconds: 5,
    throughput,
    latency: { p50: p99 / 4, p95: p99 / 2, p99, max: p99, mean: p99 / 4 },
    timeline: [],
  });
  const report = (peaks: BenchReport["peaks"], atRate: BenchReport["atRate"], entry?: BenchReport["entry"]) =>
    checkTargets({
      date: "",
      command: "",
      machine: { cores: 2, cpu: "", memoryGb: 1, os: "" },
      versions: {},
      settings: {},
      ceiling: { before: run(10_000, 1), throughput: 10_000 },
      peaks,
      atRate,
      ...(entry && { entry }),
      coldStarts: [],
    });

  it("hold a stale city to the fresh city of the same run, within 20 %", () => {
    const checks = report(
      {
        "search-drivers": run(5_000, 5),
        "search-drivers, stale city 90 %": run(4_100, 5),
        "search-drivers, stale city 100 %": run(3_900, 5),
      },
      {
        "search-drivers": { ...run(2_500, 10), rate: 2_500 },
        "search-drivers, stale city 90 %": { ...run(2_500, 11.9), rate: 2_500 },
        "search-drivers, stale city 100 %": { ...run(2_500, 12.1), rate: 2_500 },
      },
    );
    const met = Object.fromEntries(checks.filter((c) => c.row.includes("stale")).map((c) => [c.row, c.met]));
    expect(met).toEqual({
      "peak:search-drivers, stale city 90 %": true,
      "rate:search-drivers, stale city 90 %": true,
      "peak:search-drivers, stale city 100 %": false,
      "rate:search-drivers, stale city 100 %": false,
    });
  });

  it("hold the entry-point runs to the k6 scripts' thresholds, failures included", () => {
    const checks = report(
      {},
      {},
      {
        costUs: 100,
        floodAndSearch: { locations: { ...run(500, 18), rate: 500 }, searches: { ...run(50, 9, 5), rate: 50 } },
      },
    );
    expect(checks.map((c) => [c.row, c.met])).toEqual([
      ["entry:locations", true],
      ["entry:searches", false],
    ]);
  });
});

// The k6 scripts (loadtests/k6/), loaded and run in Node for the tests: k6 itself is neither in Debian's archive
// nor on npm, so the parts of its API the scripts use are stood in for here. They behave as k6's do for one VU:
// k6/http sends every request for real and waits for its answer (k6's calls block, so this one runs each in a
// child process); sleep blocks; check records each outcome; metrics record what is added; crypto and encoding are
// Node's, so the tokens minted are real; k6/websockets is the `ws` package behind k6's browser-like API, and k6/timers
// Node's timers. As in k6, an iteration ends once its sockets have closed and its timers have fired or been
// cleared. What k6 adds on top (executors, arrival rates, thresholds) is not simulated.
// Blocking calls would stall a test's own servers, so scripts are run in a process of their own (`runK6Iterations`).
import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { build, type Plugin } from "esbuild";
import { WebSocket as NodeWebSocket } from "ws";

export const SCRIPTS_DIR = fileURLToPath(new URL("../../loadtests/k6/", import.meta.url));

export interface CheckOutcome {
  name: string;
  ok: boolean;
}

export interface MetricSample {
  metric: string;
  value: number;
  tags: Record<string, string>;
}

/** What a run of the script's functions left behind, and the execution context k6 would give them. */
export interface K6State {
  /** Custom metrics the script created (new Trend(…), new Counter(…), …). */
  metrics: string[];
  checks: CheckOutcome[];
  samples: MetricSample[];
  requests: { method: string; url: string; host: string | undefined; status: number }[];
  exec: { scenario: { name: string; iterationInTest: number; startTime: number }; vu: { idInTest: number } };
  /** What the iteration left running (open WebSockets, timers): it ends when each has settled. */
  pending: Promise<unknown>[];
}

declare global {
  var __k6: K6State;
  var __ENV: Record<string, string>;
  /** The stand-in for k6/http's blocking request (see `sendAndWait`). */
  var __k6Send: (method: string, url: string, body: string | null, headers: Record<string, string>) => { status: number; body: string };
  var __k6WebSocket: typeof NodeWebSocket;
}

export function resetK6State(): K6State {
  globalThis.__k6 = {
    metrics: [],
    checks: [],
    samples: [],
    requests: [],
    exec: { scenario: { name: "default", iterationInTest: 0, startTime: Date.now() }, vu: { idInTest: 1 } },
    pending: [],
  };
  return globalThis.__k6;
}

// A child process that makes one HTTP request with node:http (which, unlike fetch, sends the Host header as
// given: the entry point routes by it) and prints the answer.
const CLIENT = `
const http = require("node:http");
const { method, url, body, headers } = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const req = http.request(url, { method, headers }, (res) => {
  const chunks = [];
  res.on("data", (c) => chunks.push(c));
  res.on("end", () => process.stdout.write(JSON.stringify({ status: res.statusCode, body: Buffer.concat(chunks).toString() })));
});
req.on("error", (err) => process.stdout.write(JSON.stringify({ status: 0, body: String(err) })));
req.setTimeout(30000, () => req.destroy(new Error("timed out")));
req.end(body ?? undefined);
`;

function sendAndWait(method: string, url: string, body: string | null, headers: Record<string, string>): { status: number; body: string } {
  const answer = JSON.parse(
    execFileSync(process.execPath, ["-e", CLIENT], { input: JSON.stringify({ method, url, body, headers }) }).toString(),
  ) as {
    status: number;
    body: string;
  };
  globalThis.__k6.requests.push({ method, url, host: headers.Host ?? headers.host, status: answer.status });
  return answer;
}

const STAND_INS: Record<string, string> = {
  k6: `
    export function check(value, checks) {
      let all = true;
      for (const [name, f] of Object.entries(checks)) {
        const ok = Boolean(f(value));
        globalThis.__k6.checks.push({ name, ok });
        all &&= ok;
      }
      return all;
    }
    export function sleep(seconds) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000); }
    export function group(_, f) { return f(); }`,
  "k6/http": `
    function request(method, url, body, params = {}) {
      const answer = globalThis.__k6Send(method, url, body ?? null, params.headers ?? {});
      return { status: answer.status, body: answer.body, json: () => JSON.parse(answer.body) };
    }
    export default {
      get: (url, params) => request("GET", url, null, params),
      post: (url, body, params) => request("POST", url, body, params),
      put: (url, body, params) => request("PUT", url, body, params),
      del: (url, body, params) => request("DELETE", url, body, params),
      request,
    };`,
  "k6/metrics": `
    class Metric {
      constructor(name) { this.name = name; globalThis.__k6?.metrics.push(name); }
      add(value, tags = {}) { globalThis.__k6.samples.push({ metric: this.name, value: Number(value), tags }); }
    }
    export class Trend extends Metric {}
    export class Counter extends Metric {}
    export class Rate extends Metric {}
    export class Gauge extends Metric {}`,
  "k6/execution": `export default { get scenario() { return globalThis.__k6.exec.scenario; }, get vu() { return globalThis.__k6.exec.vu; } };`,
  "k6/timers": `
    function settleWhen() { let settle; globalThis.__k6.pending.push(new Promise((resolve) => (settle = resolve))); return settle; }
    const settlers = new Map();
    export function setTimeout(f, ms) {
      const settle = settleWhen();
      const timer = globalThis.setTimeout(() => { settlers.delete(timer); try { f(); } finally { settle(); } }, ms);
      settlers.set(timer, settle);
      return timer;
    }
    export function clearTimeout(timer) { globalThis.clearTimeout(timer); settlers.get(timer)?.(); settlers.delete(timer); }`,
  // The handshake is recorded as a request (101 when it switched protocols, else the status that refused it).
  "k6/websockets": `
    export class WebSocket {
      constructor(url, protocols, params = {}) {
        const headers = params.headers ?? {};
        const request = { method: "GET", url: url.replace(/^ws/, "http"), host: headers.Host ?? headers.host, status: 0 };
        globalThis.__k6.requests.push(request);
        let closed;
        globalThis.__k6.pending.push(new Promise((resolve) => (closed = resolve)));
        this.readyState = 0;
        this.url = url;
        const ws = new globalThis.__k6WebSocket(url, { headers });
        this.ws = ws;
        const close = (code, reason) => { this.readyState = 3; this.onclose?.({ code, reason }); closed(); };
        ws.on("open", () => { request.status = 101; this.readyState = 1; this.onopen?.({}); });
        ws.on("message", (data) => this.onmessage?.({ data: String(data) }));
        ws.on("close", (code, reason) => close(code, String(reason)));
        ws.on("error", (err) => this.onerror?.({ error: String(err) }));
        ws.on("unexpected-response", (_req, res) => {
          request.status = res.statusCode;
          res.resume();
          this.onerror?.({ error: "unexpected response " + res.statusCode });
          close(1006, "");
        });
      }
      send(data) { this.ws.send(data); }
      ping() { this.ws.ping(); }
      close(code, reason) { this.ws.close(code, reason); }
    }`,
  "k6/crypto": `
    import { createHmac } from "node:crypto";
    const ENCODINGS = { base64rawurl: "base64url", base64: "base64", hex: "hex" };
    export default { hmac: (alg, secret, data, encoding) => createHmac(alg, secret).update(data).digest(ENCODINGS[encoding]) };`,
  "k6/encoding": `export default { b64encode: (input, encoding) => Buffer.from(input).toString(encoding === "rawurl" ? "base64url" : "base64") };`,
};

const k6StandIns: Plugin = {
  name: "k6-stand-ins",
  setup(builder) {
    builder.onResolve({ filter: /^k6(\/|$)/ }, (args) => ({ path: args.path, namespace: "k6" }));
    builder.onLoad({ filter: /.*/, namespace: "k6" }, (args) => {
      const contents = STAND_INS[args.path];
      if (contents === undefined) return { errors: [{ text: `no stand-in for ${args.path}: add one to tests/support/k6.ts` }] };
      return { contents, loader: "js" };
    });
  },
};

let loads = 0;

/** Bundles a script (a path under loadtests/k6/) with the stand-ins and imports it, with `env` as its __ENV. */
export async function loadK6Script(file: string, env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const result = await build({
    entryPoints: [join(SCRIPTS_DIR, file)],
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
    logLevel: "silent",
    plugins: [k6StandIns],
  });
  globalThis.__ENV = env;
  globalThis.__k6Send = sendAndWait;
  globalThis.__k6WebSocket = NodeWebSocket;
  if (!globalThis.__k6) resetK6State();
  // A module is evaluated once per URL: each load gets its own, so that it reads the __ENV it was given.
  const code = `${result.outputFiles[0]!.text}\n// load ${++loads}`;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`) as Promise<Record<string, unknown>>;
}

export interface IterationsRun {
  state: K6State;
  thresholds: Record<string, string[]>;
  /** The custom metrics the script defines. */
  defined: string[];
}

/** Runs every scenario of the script `iterations` times, in the order the script declares them, as one VU. */
export async function runScenarios(file: string, env: Record<string, string>, iterations: number): Promise<IterationsRun> {
  const state = resetK6State();
  const script = await loadK6Script(file, env);
  const defined = [...state.metrics];
  const options = script.options as { scenarios: Record<string, { exec?: string }>; thresholds: Record<string, string[]> };
  const data = typeof script.setup === "function" ? (script.setup as () => unknown)() : undefined;
  for (const [name, scenario] of Object.entries(options.scenarios)) {
    const run = script[scenario.exec ?? "default"] as (data: unknown) => void;
    for (let i = 0; i < iterations; i++) {
      state.exec.scenario = { name, iterationInTest: i, startTime: Date.now() };
      run(data);
      while (state.pending.length > 0) await Promise.all(state.pending.splice(0));
    }
  }
  return { state, thresholds: options.thresholds, defined };
}

const SELF = fileURLToPath(import.meta.url);

/** `runScenarios` in a child process, so that its blocking calls leave this process's servers free to answer. */
export async function runK6Iterations(file: string, env: Record<string, string>, iterations: number): Promise<IterationsRun> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", SELF, file, JSON.stringify(env), String(iterations)], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as IterationsRun;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, env, iterations] = process.argv.slice(2);
  process.stdout.write(JSON.stringify(await runScenarios(file!, JSON.parse(env!) as Record<string, string>, Number(iterations))));
}

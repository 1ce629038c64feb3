// Every k6 script, checked without k6: it parses as an ES module, it loads (k6's modules replaced by small
// stand-ins; its crypto and encoding by Node's, so the tokens it mints are real), and it exports options
// whose thresholds encode an SLA, the functions its scenarios name, and a handleSummary that writes under
// loadtests/results/.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { describe, expect, it } from "vitest";
import { DEV_JWT_SECRET } from "../../shared/config";
import { verifyToken } from "../../shared/http/auth";

const dir = fileURLToPath(new URL(".", import.meta.url));
const SCRIPTS = readdirSync(dir).filter((file) => file.endsWith(".js"));

// The parts of k6's API the scripts use, as much as loading them needs.
const K6_STANDINS: Record<string, string> = {
  k6: "export function check(value, checks) { return Object.values(checks).every((f) => f(value)); } export function sleep() {} export function group(_, f) { return f(); }",
  "k6/http": "const answer = () => ({ status: 0, json: () => ({}) }); export default { get: answer, post: answer, put: answer, del: answer, request: answer };",
  "k6/metrics": "class Metric { constructor(name) { this.name = name; } add() {} } export class Trend extends Metric {} export class Counter extends Metric {} export class Rate extends Metric {} export class Gauge extends Metric {}",
  "k6/execution": "export default { scenario: { iterationInTest: 0, startTime: Date.now(), name: 'test' }, vu: { idInTest: 1 } };",
  "k6/crypto": `import { createHmac } from "node:crypto";
    const ENCODINGS = { base64rawurl: "base64url", base64: "base64", hex: "hex" };
    export default { hmac: (alg, secret, data, encoding) => createHmac(alg, secret).update(data).digest(ENCODINGS[encoding]) };`,
  "k6/encoding": `export default { b64encode: (input, encoding) => Buffer.from(input).toString(encoding === "rawurl" ? "base64url" : "base64") };`,
};

const k6StandIns: Plugin = {
  name: "k6-stand-ins",
  setup(builder) {
    builder.onResolve({ filter: /^k6(\/|$)/ }, (args) => ({ path: args.path, namespace: "k6" }));
    builder.onLoad({ filter: /.*/, namespace: "k6" }, (args) => {
      const contents = K6_STANDINS[args.path];
      if (contents === undefined) return { errors: [{ text: `no stand-in for ${args.path}: add one to this test` }] };
      return { contents, loader: "js" };
    });
  },
};

/** Bundles a script with the stand-ins and imports it as a module. */
async function load(file: string): Promise<Record<string, unknown>> {
  const result = await build({
    entryPoints: [join(dir, file)],
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
    logLevel: "silent",
    plugins: [k6StandIns],
  });
  (globalThis as { __ENV?: Record<string, string> }).__ENV = {};
  const code = result.outputFiles[0]!.text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`) as Promise<Record<string, unknown>>;
}

interface Options {
  scenarios?: Record<string, { executor: string; exec?: string }>;
  thresholds?: Record<string, string[]>;
}

describe("k6 scripts", () => {
  it("are there", () => {
    expect(SCRIPTS.sort()).toEqual(["booking-spike.js", "location-flood.js", "mixed.js", "search.js"]);
  });

  describe.each(SCRIPTS)("%s", (file) => {
    it("exports options with thresholds, and the function of every scenario", async () => {
      const script = await load(file);
      const options = script.options as Options;
      expect(options, "options").toBeTypeOf("object");
      const thresholds = Object.entries(options.thresholds ?? {});
      expect(thresholds.length, "thresholds").toBeGreaterThan(0);
      for (const [metric, rules] of thresholds) {
        expect(rules.length, metric).toBeGreaterThan(0);
        for (const rule of rules) expect(rule, metric).toMatch(/^(p\(\d+(\.\d+)?\)|avg|min|max|med|rate|count)\s*(<|<=|>|>=|==)\s*\d/);
      }
      for (const [name, scenario] of Object.entries(options.scenarios ?? {})) {
        expect(script[scenario.exec ?? "default"], `scenario ${name} runs ${scenario.exec ?? "default"}`).toBeTypeOf("function");
      }
    });

    it("writes its summary as JSON under loadtests/results/", async () => {
      const script = await load(file);
      const handleSummary = script.handleSummary as (data: unknown) => Record<string, string>;
      const files = handleSummary({ metrics: { http_req_failed: { thresholds: { "rate<0.01": { ok: true } } } } });
      const written = Object.keys(files).filter((key) => key !== "stdout");
      expect(written).toHaveLength(1);
      expect(written[0]).toMatch(/^loadtests\/results\/[\w-]+\.json$/);
      expect(JSON.parse(files[written[0]!]!)).toMatchObject({ script: expect.any(String), metrics: expect.any(Object) });
    });
  });

  it("mint tokens the functions accept", async () => {
    const { mintToken } = (await load(join("lib", "auth.js"))) as { mintToken: (id: string, role: string, ttl?: number, secret?: string) => string };
    expect(verifyToken(DEV_JWT_SECRET, mintToken("k6-rider-1", "rider"))).toEqual({ id: "k6-rider-1", role: "rider" });
    expect(verifyToken("another-secret", mintToken("k6-driver-7", "driver", 60, "another-secret"))).toEqual({ id: "k6-driver-7", role: "driver" });
    expect(() => verifyToken("another-secret", mintToken("k6-rider-1", "rider"))).toThrow(/signature/);
  });
});

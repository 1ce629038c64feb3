// Every k6 script, checked without k6: it parses as an ES module, it loads (k6's modules stood in for by
// tests/support/k6.ts; its crypto and encoding by Node's, so the tokens it mints are real), and it exports options
// whose thresholds encode an SLA, the functions its scenarios name, and a handleSummary that writes under
// loadtests/results/.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEV_JWT_SECRET } from "../../shared/config";
import { verifyToken } from "../../shared/tokens";
import { SCRIPTS_DIR, loadK6Script as load } from "../../tests/support/k6";

const SCRIPTS = readdirSync(SCRIPTS_DIR).filter((file) => file.endsWith(".js"));

interface Options {
  scenarios?: Record<string, { executor: string; exec?: string }>;
  thresholds?: Record<string, string[]>;
}

describe("k6 scripts", () => {
  it("are there", () => {
    expect(SCRIPTS.sort()).toEqual(["booking-spike.js", "location-flood.js", "mixed.js", "search.js", "watch.js"]);
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

  it("default to the rates one machine holds locally, and keep the cluster's under PROFILE=cluster", async () => {
    type Scenarios = Record<string, { rate?: number; stages?: { target: number }[]; startTime?: string }>;
    const rates = async (file: string, env: Record<string, string>) => {
      const scenarios = ((await load(file, env)).options as { scenarios: Scenarios }).scenarios;
      return Object.fromEntries(
        Object.entries(scenarios).map(([name, s]) => [name, s.rate ?? Math.max(...(s.stages ?? []).map((stage) => stage.target))]),
      );
    };
    expect(await rates("search.js", {})).toEqual({ search: 25 });
    expect(await rates("search.js", { PROFILE: "cluster" })).toEqual({ search: 500 });
    expect(await rates("search.js", { PROFILE: "cluster", RATE: "20" })).toEqual({ search: 20 });
    expect(await rates("location-flood.js", {})).toEqual({ flood: 250 });
    expect(await rates("location-flood.js", { PROFILE: "cluster" })).toEqual({ flood: 5000 });
    expect(await rates("booking-spike.js", {})).toMatchObject({ spike: 100 });
    expect(await rates("booking-spike.js", { PROFILE: "cluster" })).toMatchObject({ spike: 200 });
    expect(await rates("mixed.js", {})).toMatchObject({ searches: 25 });
    expect(await rates("mixed.js", { PROFILE: "cluster" })).toMatchObject({ searches: 100 });
    expect(await rates("watch.js", {})).toMatchObject({ riders: 5 });
    expect(await rates("watch.js", { PROFILE: "cluster" })).toMatchObject({ riders: 50 });
    await expect(load("search.js", { PROFILE: "laptop" })).rejects.toThrow(/PROFILE/);
  });

  it("mint tokens the functions accept", async () => {
    const { mintToken } = (await load(join("lib", "auth.js"))) as {
      mintToken: (id: string, role: string, ttl?: number, secret?: string) => string;
    };
    expect(verifyToken(DEV_JWT_SECRET, mintToken("k6-rider-1", "rider"))).toEqual({ id: "k6-rider-1", role: "rider" });
    expect(verifyToken("another-secret", mintToken("k6-driver-7", "driver", 60, "another-secret"))).toEqual({
      id: "k6-driver-7",
      role: "driver",
    });
    expect(() => verifyToken("another-secret", mintToken("k6-rider-1", "rider"))).toThrow(/signature/);
  });
});

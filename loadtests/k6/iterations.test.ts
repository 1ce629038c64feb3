// Every scenario of every k6 script, run for a few iterations against the local stack: the real functions
// and sources on NATS, Redis and PostgreSQL, reached through the entry point by each function's Knative Host
// header, as on a cluster through Kourier. Every request must succeed and every check the scripts make must
// pass, so what the scripts send is what the product accepts. k6 itself does not run here
// (tests/support/k6.ts): its pacing and the thresholds' verdicts are left to a real k6 run.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { functionForHost, routeFor } from "../../local/routes";
import { startStack, type Stack } from "../../local/stack";
import { runK6Iterations } from "../../tests/support/k6";
import { resetState } from "../../harness/state";
import { TEST_ENV, TEST_PORT_OFFSET } from "../../tests/support/test-env";
import { fileLogDir } from "../../tests/support/process-watch";

const ITERATIONS = 3;

let stack: Stack;

beforeAll(async () => {
  await resetState();
  stack = await startStack({ basePort: 28680 + TEST_PORT_OFFSET, build: false, logDir: fileLogDir() });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe.each(["search.js", "location-flood.js", "booking-spike.js", "mixed.js", "watch.js"])("%s", (file) => {
  it("sends only requests the product accepts, and passes every check it makes", async () => {
    const { state, thresholds, defined } = await runK6Iterations(
      file,
      {
        BASE_URL: stack.gatewayUrl,
        JWT_SECRET: TEST_ENV.JWT_SECRET,
        // As many drivers as iterations, so each iteration of a driver scenario reports a different one.
        DRIVERS: String(ITERATIONS),
        POLL_MS: "50",
        MATCH_TIMEOUT_MS: "10000",
      },
      ITERATIONS,
    );

    const byFunction: Record<string, number> = {};
    for (const { host } of state.requests) {
      const fn = functionForHost(host) ?? "no function";
      byFunction[fn] = (byFunction[fn] ?? 0) + 1;
    }
    console.log(`${file}: ${JSON.stringify({ requests: byFunction, checks: state.checks.length, samples: state.samples.length })}`);

    expect(state.requests.length).toBeGreaterThan(0);
    // A WebSocket's handshake succeeds with 101.
    const isWebSocket = (r: { url: string }) => new URL(r.url).pathname.endsWith("/ws");
    expect(state.requests.filter((r) => (isWebSocket(r) ? r.status !== 101 : r.status < 200 || r.status > 299))).toEqual([]);
    // Kourier routes by Host alone: each request's Host must name the function its path is served by.
    for (const { method, url, host } of state.requests) {
      const path = new URL(url).pathname;
      expect(functionForHost(host), `${method} ${path} with Host ${host}`).toBe(routeFor(method, path));
    }
    expect(state.checks.length).toBeGreaterThan(0);
    expect(state.checks.filter((c) => !c.ok)).toEqual([]);

    // Every metric of the script's own that a threshold reads was fed, except counts that must stay low (trips
    // unmatched), which stayed at nothing.
    for (const [key, rules] of Object.entries(thresholds)) {
      const metric = key.replace(/\{.*\}$/, "");
      if (!defined.includes(metric)) continue;
      const samples = state.samples.filter((s) => s.metric === metric);
      if (rules.every((rule) => rule.startsWith("count<"))) expect(samples, key).toEqual([]);
      else expect(samples.length, key).toBeGreaterThan(0);
    }
  }, 90_000);
});

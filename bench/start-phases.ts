// Where a cold start's time goes, coarsely: spawn → first liveness 200 (the bundle is loaded and listening) and
// spawn → first readiness 200 (every store has answered too), medians over a few starts of one bundle.
//
//   node --import tsx bench/start-phases.ts <bundle.mjs> [--runs 9]
//
// Needs the stores of a bench run (npm run bench provisions them), and NATS on NATS_URL or 4222.
import { parseArgs } from "node:util";
import { freePort, startBundle } from "../harness/processes";
import { probeStatus } from "./lib/cold-start";
import { standaloneEnv } from "./lib/environment";
import { median, round } from "./lib/stats";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: "string", default: "9" } } });
const [bundle] = positionals;
if (!bundle) {
  console.error("usage: node --import tsx bench/start-phases.ts <bundle.mjs> [--runs 9]");
  process.exit(2);
}

const listening: number[] = [];
const ready: number[] = [];
for (let run = 0; run < Number(values.runs); run++) {
  const port = await freePort();
  const started = performance.now();
  const fn = startBundle(bundle, { ...standaloneEnv(), PORT: String(port), SERVICE_NAME: "start-phases" });
  try {
    let live: number | undefined;
    for (;;) {
      if (fn.child.exitCode !== null) throw new Error(`the bundle exited during start-up:\n${fn.output().slice(-2000)}`);
      if (live === undefined && (await probeStatus(port, "/health/liveness")) === 200) live = performance.now() - started;
      if (live !== undefined && (await probeStatus(port)) === 200) {
        listening.push(live);
        ready.push(performance.now() - started);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    await fn.stop("SIGKILL");
  }
}
console.log(
  `listening after ${round(median(listening), 1)} ms, ready after ${round(median(ready), 1)} ms (medians of ${values.runs} starts)`,
);

// Cold start as Knative sees it: from spawning `node <bundle>` to the first 200 from its readiness probe (the
// moment the activator may route to it; every dependency has answered by then), and the process's resident
// memory right after. Each bundle is started several times, one at a time, and the median reported.
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { freePort, startBundle } from "../tests/support/processes";
import { median, round } from "./stats";

export interface ColdStart {
  name: string;
  bundleKiB: number;
  /** spawn → readiness 200, ms: the median and the range over the runs. */
  readyMs: number;
  readyMsRange: [number, number];
  /** Resident memory after the first successful probe, MB (median). */
  rssMb: number;
  runs: number;
}

const POLL_MS = 2;
const GIVE_UP_MS = 15_000;

export async function measureColdStart(name: string, bundle: string, env: Record<string, string>, runs: number): Promise<ColdStart> {
  const times: number[] = [];
  const rss: number[] = [];
  // One start that is not counted, so that every counted one finds the bundle in the page cache.
  await startOnce(bundle, env, name);
  for (let i = 0; i < runs; i++) {
    const { readyMs, rssMb } = await startOnce(bundle, env, name);
    times.push(readyMs);
    rss.push(rssMb);
  }
  return {
    name,
    bundleKiB: Math.round(readFileSync(bundle).length / 1024),
    readyMs: round(median(times), 1),
    readyMsRange: [round(Math.min(...times), 1), round(Math.max(...times), 1)],
    rssMb: round(median(rss), 1),
    runs,
  };
}

async function startOnce(bundle: string, env: Record<string, string>, name: string): Promise<{ readyMs: number; rssMb: number }> {
  const port = await freePort();
  const started = performance.now();
  const fn = startBundle(bundle, { ...env, PORT: String(port), SERVICE_NAME: name });
  try {
    for (;;) {
      if (fn.child.exitCode !== null) throw new Error(`${name} exited during start-up:\n${fn.output().slice(-2000)}`);
      if ((await status(port)) === 200) break;
      if (performance.now() - started > GIVE_UP_MS) throw new Error(`${name} was not ready within ${GIVE_UP_MS} ms:\n${fn.output().slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const readyMs = performance.now() - started;
    return { readyMs, rssMb: residentMb(fn.child.pid!) };
  } finally {
    await fn.stop("SIGKILL");
  }
}

function status(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/health/readiness", agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.end();
  });
}

function residentMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
}

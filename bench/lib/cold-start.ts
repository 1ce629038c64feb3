// Cold start as Knative sees it: from spawning `node <bundle>` to the first 200 from its readiness probe (the
// moment the activator may route to it; every dependency has answered by then), and the process's resident
// memory right after. Each bundle is started several times, one process at a time, and the median reported.
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { freePort, startBundle } from "../../harness/processes";
import { median, round } from "./stats";

export interface ColdStart {
  name: string;
  bundleKiB: number;
  /** spawn → readiness 200, ms: the median and the range over the runs. */
  readyMs: number;
  readyMsRange: [number, number];
  /** Median over the rounds of this start ÷ the reference's in the same round (1 for the reference). */
  vsReference: number;
  /** Resident memory after the first successful probe, MB (median). */
  rssMb: number;
  runs: number;
}

/** One bundle to start; by default on this process's Node with the run's env, compared with the first target. */
export interface ColdStartTarget {
  name: string;
  bundle: string;
  /** Another Node binary to start it with (to compare runtimes). */
  node?: string;
  /** Added to the run's env for this target only (NODE_COMPILE_CACHE, …). */
  env?: Record<string, string>;
  /** Index of the target this one is compared with in each round (a bare server on the same Node). */
  reference?: number;
}

const POLL_MS = 2;
const GIVE_UP_MS = 15_000;

/**
 * Starts every bundle once per round, in turn, for `runs` rounds: a busy spell on a shared machine then
 * slows one start of each rather than every start of one, and each is compared with its reference
 * (the first target, the bare node:http server, unless it names another) started in the same round.
 */
export async function measureColdStarts(targets: ColdStartTarget[], env: Record<string, string>, runs: number): Promise<ColdStart[]> {
  const times = targets.map(() => [] as number[]);
  const ratios = targets.map(() => [] as number[]);
  const rss = targets.map(() => [] as number[]);
  // One start of each that is not counted, so that every counted one finds its bundle in the page cache.
  for (const target of targets) await startOnce(target, env);
  for (let round = 0; round < runs; round++) {
    const results: { readyMs: number; rssMb: number }[] = [];
    for (const target of targets) results.push(await startOnce(target, env));
    results.forEach((result, i) => {
      times[i]!.push(result.readyMs);
      ratios[i]!.push(result.readyMs / results[targets[i]!.reference ?? 0]!.readyMs);
      rss[i]!.push(result.rssMb);
    });
  }
  return targets.map(({ name, bundle }, i) => ({
    name,
    bundleKiB: Math.round(readFileSync(bundle).length / 1024),
    readyMs: round(median(times[i]!), 1),
    readyMsRange: [round(Math.min(...times[i]!), 1), round(Math.max(...times[i]!), 1)],
    vsReference: round(median(ratios[i]!), 2),
    rssMb: round(median(rss[i]!), 1),
    runs,
  }));
}

async function startOnce(target: ColdStartTarget, env: Record<string, string>): Promise<{ readyMs: number; rssMb: number }> {
  const { name, bundle } = target;
  const port = await freePort();
  const started = performance.now();
  const fnEnv = { ...env, ...target.env, PORT: String(port), SERVICE_NAME: name };
  const fn = startBundle(bundle, fnEnv, { node: target.node });
  try {
    for (;;) {
      if (fn.child.exitCode !== null) throw new Error(`${name} exited during start-up:\n${fn.output().slice(-2000)}`);
      if ((await probeStatus(port)) === 200) break;
      if (performance.now() - started > GIVE_UP_MS)
        throw new Error(`${name} was not ready within ${GIVE_UP_MS} ms:\n${fn.output().slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const readyMs = performance.now() - started;
    return { readyMs, rssMb: residentMb(fn.child.pid!) };
  } finally {
    await fn.stop("SIGKILL");
  }
}

/** The status a probe path answers with on a fresh connection, or 0 while nothing listens. */
export function probeStatus(port: number, path = "/health/readiness"): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
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

// CPU time by component over a scenario, from /proc: what each request costs the function, Redis, PostgreSQL,
// NATS and the load generator. With two cores shared by all of them, these shares are what bounds a figure.
import { readFileSync, readdirSync } from "node:fs";

const TICKS_PER_SECOND = 100;

export type CpuSeconds = Record<string, number>;

export interface Components {
  /** Ports of the stack's processes (functions and sources): only those of this run are counted. */
  stackPorts: string[];
  natsPid?: number;
  /** This process unless told otherwise: the load generator reads the counters itself. */
  generatorPid?: number;
  /** Database names whose PostgreSQL backends are counted. */
  databases: string[];
}

/** CPU seconds used so far by each component's live processes. */
export function cpuSnapshot(components: Components): CpuSeconds {
  const totals: CpuSeconds = {};
  const add = (group: string, pid: string) => {
    const seconds = cpuOf(pid);
    if (seconds !== undefined) totals[group] = (totals[group] ?? 0) + seconds;
  };
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    const cmdline = read(`/proc/${pid}/cmdline`)?.replace(/\0/g, " ") ?? "";
    if (Number(pid) === (components.generatorPid ?? process.pid)) add("load generator", pid);
    else if (Number(pid) === components.natsPid) add("nats-server", pid);
    else if (cmdline.startsWith("redis-server")) add("redis-server", pid);
    else if (cmdline.startsWith("postgres: ") && components.databases.some((db) => cmdline.includes(` ${db} `))) add("postgres", pid);
    else if (cmdline.includes("/dist/")) {
      const env = read(`/proc/${pid}/environ`)?.split("\0") ?? [];
      const port = env.find((e) => e.startsWith("PORT="))?.slice(5);
      const name = env.find((e) => e.startsWith("SERVICE_NAME="))?.slice(13);
      if (port && name && components.stackPorts.includes(port)) add(name, pid);
    }
  }
  return totals;
}

/** What each component used between two snapshots, in CPU seconds, largest first. */
export function cpuBetween(before: CpuSeconds, after: CpuSeconds): CpuSeconds {
  const used = Object.entries(after)
    .map(([group, seconds]) => [group, Math.round((seconds - (before[group] ?? 0)) * 100) / 100] as const)
    .filter(([, seconds]) => seconds > 0)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(used);
}

function cpuOf(pid: string): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // Fields after the command name, which may itself contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // the process has exited, or is not ours to read
  }
}

// The load generator, run as its own process so that its CPU is not the measured process's:
//   node --import tsx bench/lib/load/generator.ts '<plan as JSON>'   → one JSON result on stdout.
//
// Two ways to send load:
//   closed: N connections, each sends its next request when the last one is answered. This finds the peak
//           throughput, and its latencies are those of a saturated server.
//   open:   requests are due at a fixed rate whatever the server does, and each latency is counted from when
//           the request was due, not from when a free connection finally sent it. A server that stalls is
//           charged for every request it held up (no coordinated omission), as a real crowd of users would.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as connectNats } from "@nats-io/transport-node";
import { CONSUMERS } from "../../../shared/events/definitions";
import { consumerBacklog } from "../../../harness/streams";
import { cpuBetween, cpuSnapshot, type Components, type CpuSeconds } from "../cpu";
import { Recorder, percentiles, round, type LoadResult, type Percentiles } from "../stats";
import { Connection, type HttpRequest } from "./connection";
import { requestFactory, type RequestKind } from "./requests";

export type Plan = (
  | {
      mode: "closed";
      kind: RequestKind;
      port: number;
      connections: number;
      warmupMs: number;
      durationMs: number;
      /** Keep going past durationMs until this many requests were measured (every driver of the city, say). */
      minRequests?: number;
    }
  | { mode: "open"; kind: RequestKind; port: number; rate: number; maxConnections: number; warmupMs: number; durationMs: number }
  | AssignmentPlan
) & {
  /** Whose CPU time to report over the measured window. */
  cpu?: Components;
  /**
   * CPU this generator burns per request on top of its own, µs: to cost the machine what k6 would, which runs
   * each request through a JavaScript VU (see docs/performance.md). 0 unless given.
   */
  costUs?: number;
};

/** CPU seconds each component used while the load was measured. */
export type WithCpu<T> = T & { cpu?: CpuSeconds };

/** Books trips through create-trip and watches the TRIPS stream for each one's outcome. */
export interface AssignmentPlan {
  mode: "assignment";
  port: number;
  natsUrl: string;
  /** Bookings at a fixed rate for durationMs … */
  rate?: number;
  durationMs?: number;
  /** … or this many as fast as `connections` allow. */
  burst?: number;
  /** Bookings at `rate` for this long first, not counted: JIT, connection pools and the source warm up. */
  warmupMs?: number;
  connections: number;
  settleTimeoutMs: number;
}

export interface AssignmentResult {
  booked: number;
  bookingErrors: Record<string, number>;
  assigned: number;
  noDriver: number;
  unsettled: number;
  /** Booking request sent → create-trip's 201, ms. */
  createLatency: Percentiles;
  /** Booking request sent → its trips.assigned event seen on NATS, ms (assigned trips only). */
  assignLatency: Percentiles;
  /** Time to send every booking and have its 201, s. */
  bookingSeconds: number;
  /** First booking sent → last trip settled (assigned or no_driver), s. */
  drainSeconds: number;
  /** The assign-driver consumer's backlog (pending + unacknowledged) every 100 ms. */
  backlog: { t: number; depth: number }[];
  timeline: LoadResult["timeline"];
}

const HOST = "127.0.0.1";
const JWT_SECRET = process.env.JWT_SECRET ?? "";

/** Holds the CPU for `us` microseconds, as a heavier client would spend it per request. */
export function spend(us: number): void {
  if (us <= 0) return;
  const until = performance.now() + us / 1000;
  while (performance.now() < until) {
    // busy on purpose
  }
}

export async function runPlan(plan: Plan): Promise<WithCpu<LoadResult | AssignmentResult>> {
  const cpu = plan.cpu;
  const costUs = plan.costUs ?? 0;
  if (plan.mode === "assignment") return runAssignment(plan, cpu, costUs);
  const factory = requestFactory(plan.kind, JWT_SECRET);
  const start = performance.now() + plan.warmupMs;
  let cpuBefore: CpuSeconds | undefined;
  const warmedUp = cpu && setTimeout(() => (cpuBefore = cpuSnapshot(cpu)), plan.warmupMs);
  const recorder = new Recorder(start);
  const fire = async (connection: Connection, due: number) => {
    const request = factory.next();
    spend(costUs);
    const sent = performance.now();
    try {
      const { status, body } = await connection.send(request);
      const done = performance.now();
      if (due < start) return;
      if (status === factory.expected) recorder.ok(done, done - due, done - sent);
      else recorder.error(done, statusKind(status, body));
    } catch (err) {
      if (due >= start) recorder.error(performance.now(), errorKind(err));
    }
  };
  const totalMs = plan.warmupMs + plan.durationMs;
  if (plan.mode === "closed") {
    const end = performance.now() + totalMs;
    const minRequests = plan.minRequests ?? 0;
    let measured = 0;
    const more = () => {
      const now = performance.now();
      if (now >= start) measured++;
      return now < end || measured <= minRequests;
    };
    await closedLoop(plan.port, plan.connections, more, fire);
  } else {
    await openLoop(plan.port, plan.rate, totalMs, plan.maxConnections, fire);
  }
  clearTimeout(warmedUp);
  const result = recorder.result((performance.now() - start) / 1000);
  return cpu && cpuBefore ? { ...result, cpu: cpuBetween(cpuBefore, cpuSnapshot(cpu)) } : result;
}

type Fire = (connection: Connection, due: number) => Promise<void>;

/** Each connection sends as soon as its last answer is in, for as long as `more()` says so. */
async function closedLoop(port: number, connections: number, more: () => boolean, fire: Fire): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const connection = new Connection(HOST, port);
      while (more()) await fire(connection, performance.now());
      connection.close();
    }),
  );
}

/** Requests fall due every 1/rate s; one that finds no free connection waits for one, its latency running. */
async function openLoop(port: number, rate: number, totalMs: number, maxConnections: number, fire: Fire): Promise<void> {
  const interval = 1000 / rate;
  const start = performance.now();
  const end = start + totalMs;
  const idle: Connection[] = [];
  const all: Connection[] = [];
  const queue: number[] = [];
  const inFlight = new Set<Promise<void>>();

  const dispatch = (connection: Connection, due: number) => {
    const task = fire(connection, due).then(() => {
      inFlight.delete(task);
      const next = queue.shift();
      if (next !== undefined) dispatch(connection, next);
      else idle.push(connection);
    });
    inFlight.add(task);
  };

  let due = start;
  while (due < end) {
    const now = performance.now();
    for (; due <= now && due < end; due += interval) {
      let connection = idle.pop();
      if (!connection && all.length < maxConnections) {
        connection = new Connection(HOST, port);
        all.push(connection);
      }
      if (connection) dispatch(connection, due);
      else queue.push(due);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(due, end) - performance.now())));
  }
  while (inFlight.size > 0) await Promise.race(inFlight);
  for (const connection of all) connection.close();
}

async function runAssignment(plan: AssignmentPlan, cpu: Components | undefined, costUs: number): Promise<WithCpu<AssignmentResult>> {
  const factory = requestFactory("create-trip", JWT_SECRET);
  const nc = await connectNats({ servers: plan.natsUrl, name: "uitgo-bench" });
  const jsm = await jetstreamManager(nc);
  const consumer = CONSUMERS.find((c) => c.config.durable_name === "assign-driver")!;
  const backlogDepth = () => consumerBacklog(jsm, consumer.stream, consumer.config.durable_name);

  if (plan.warmupMs && plan.rate) {
    await openLoop(plan.port, plan.rate, plan.warmupMs, plan.connections, async (connection) => {
      await connection.send(factory.next()).catch(() => undefined);
    });
    while ((await backlogDepth()) > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const cpuBefore = cpu && cpuSnapshot(cpu);

  const sentAt = new Map<string, number>();
  const settledEarly = new Map<string, { at: number; assigned: boolean }>();
  const assignLatencies: number[] = [];
  const createLatencies: number[] = [];
  const bookingErrors: Record<string, number> = {};
  let assigned = 0;
  let noDriver = 0;
  let lastSettled = 0;
  const start = performance.now();
  const recorder = new Recorder(start);

  const settle = (id: string, at: number, isAssigned: boolean) => {
    const sent = sentAt.get(id);
    if (sent === undefined) {
      // The event can overtake create-trip's answer: keep it until the booking is known.
      settledEarly.set(id, { at, assigned: isAssigned });
      return;
    }
    sentAt.delete(id);
    lastSettled = Math.max(lastSettled, at);
    if (isAssigned) {
      assigned++;
      assignLatencies.push(at - sent);
      recorder.ok(sent, at - sent);
    } else {
      noDriver++;
    }
  };
  const watch = (subject: string, isAssigned: boolean) => {
    const sub = nc.subscribe(subject);
    void (async () => {
      for await (const msg of sub) {
        const at = performance.now();
        const id = (JSON.parse(msg.string()) as { trip?: { id?: string } }).trip?.id;
        if (id) settle(id, at, isAssigned);
      }
    })();
  };
  watch("trips.assigned.*", true);
  watch("trips.unassigned.*", false);
  await nc.flush();

  const backlog: { t: number; depth: number }[] = [];
  const sampler = setInterval(() => {
    const t = performance.now();
    void backlogDepth().then(
      (depth) => backlog.push({ t: round((t - start) / 1000, 2), depth }),
      () => {},
    );
  }, 100);

  let booked = 0;
  const fire: Fire = async (connection, due) => {
    spend(costUs);
    try {
      const response = await connection.send(factory.next() satisfies HttpRequest);
      const done = performance.now();
      if (response.status !== 201) {
        const kind = statusKind(response.status, response.body);
        bookingErrors[kind] = (bookingErrors[kind] ?? 0) + 1;
        return;
      }
      booked++;
      createLatencies.push(done - due);
      const id = (JSON.parse(response.body.toString()) as { id: string }).id;
      sentAt.set(id, due);
      const early = settledEarly.get(id);
      if (early) {
        settledEarly.delete(id);
        settle(id, early.at, early.assigned);
      }
    } catch (err) {
      const kind = errorKind(err);
      bookingErrors[kind] = (bookingErrors[kind] ?? 0) + 1;
    }
  };
  let left = plan.burst ?? 0;
  if (plan.burst !== undefined) await closedLoop(plan.port, plan.connections, () => left-- > 0, fire);
  else await openLoop(plan.port, plan.rate!, plan.durationMs!, plan.connections, fire);
  const bookingSeconds = (performance.now() - start) / 1000;

  const deadline = performance.now() + plan.settleTimeoutMs;
  while (sentAt.size > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  // One more sample after the last settlement, so the backlog chart ends at its true depth.
  await new Promise((resolve) => setTimeout(resolve, 150));
  clearInterval(sampler);
  await nc.drain();
  const cpuUsed = cpu && cpuBetween(cpuBefore!, cpuSnapshot(cpu));

  const timeline = recorder.result(Math.max(bookingSeconds, 1)).timeline;
  const round3 = (p: Percentiles): Percentiles => ({
    p50: round(p.p50),
    p95: round(p.p95),
    p99: round(p.p99),
    max: round(p.max),
    mean: round(p.mean),
  });
  return {
    booked,
    bookingErrors,
    assigned,
    noDriver,
    unsettled: sentAt.size,
    createLatency: round3(percentiles(createLatencies)),
    assignLatency: round3(percentiles(assignLatencies)),
    bookingSeconds: round(bookingSeconds),
    drainSeconds: round(((lastSettled || performance.now()) - start) / 1000),
    backlog: backlog.sort((a, b) => a.t - b.t),
    timeline,
    ...(cpuUsed && { cpu: cpuUsed }),
  };
}

/** An unexpected answer by its status and error code: a 503 for overload and one for a store that is down are told apart. */
function statusKind(status: number, body: Buffer): string {
  try {
    const code = (JSON.parse(body.toString()) as { error?: { code?: unknown } }).error?.code;
    return typeof code === "string" ? `${status} ${code}` : String(status);
  } catch {
    return String(status);
  }
}

function errorKind(err: unknown): string {
  return (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
}

if (process.argv[2]) {
  const result = await runPlan(JSON.parse(process.argv[2]) as Plan);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

// Every function and every JetStream source as its own `node dist/...` process, as deployed, plus the local
// entry point in front of them. Used by `npm start` (local/up.ts) and by the test suite, which also kills and
// restarts single processes to test crashes.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FUNCTIONS, SOURCES, bundlePath, buildAll } from "../esbuild.config";
import { SOURCE_SETTINGS } from "../shared/config";
import { CONSUMERS } from "../shared/events/definitions";
import { startGateway, type Gateway } from "./gateway";
import { startSchedules } from "./schedules";
import { tracesUrlFile } from "./trace";
import { startTraceReceiver, type TraceReceiver } from "./traces";

export interface StackOptions {
  /** The gateway listens here and the processes on the ports after it; 8080 unless told otherwise. */
  basePort?: number;
  /** Added to process.env for every process (functions and sources), over each source's SOURCE_SETTINGS. */
  env?: Record<string, string>;
  log?: (line: string) => void;
  /** Set to false when the caller has already run buildAll(). */
  build?: boolean;
  /** Where each process writes <name>.log; .local/logs unless told otherwise. Truncated on start. */
  logDir?: string;
  /** How long start-up may take before a process that is not ready fails it; 30 s unless told otherwise. */
  readyTimeoutMs?: number;
  /** Told when a process exits without having been stopped or signalled through the stack: a crash. */
  onUnexpectedExit?: (name: string, how: string, logTail: string) => void;
  /**
   * Collect the processes' spans in a trace receiver of the stack's own (local/traces.ts), on the port after the last
   * process's, and tell every process to export to it. Off unless asked (`npm start` asks; the benchmarks do not).
   */
  traces?: boolean;
}

export interface Stack {
  /** The local entry point, e.g. http://127.0.0.1:8080. */
  gatewayUrl: string;
  /** Process name (function name or `source-<durable>`, and `gateway`) → port. */
  ports: Record<string, number>;
  /** Process names: the functions, then the sources. */
  processes: string[];
  logDir: string;
  /** What the sources and schedules of this run show the internal functions (INTERNAL_SECRET), new for every run. */
  internalSecret: string;
  stop(): Promise<void>;
  /** SIGTERM, wait for exit (SIGKILL after 10 s), start again and wait until ready. */
  restart(name: string): Promise<void>;
  /** Sends a signal (SIGKILL unless told otherwise) to one process and returns at once. */
  kill(name: string, signal?: NodeJS.Signals): void;
  /** Starts one stopped process and waits until it is ready; does nothing if it is running. */
  start(name: string): Promise<void>;
  /** Resolves when the process has exited (at once if it is not running). */
  exited(name: string): Promise<void>;
  /** The last lines of a process's log. */
  logTail(name: string, lines?: number): string;
  /** The trace receiver, when started with `traces`. */
  traces?: TraceReceiver;
}

interface Managed {
  name: string;
  kind: "function" | "source";
  port: number;
  bundle: string;
  env: NodeJS.ProcessEnv;
  child?: ChildProcess;
  exit?: Promise<void>;
}

const root = fileURLToPath(new URL("..", import.meta.url));
const STOP_GRACE_MS = 10_000;

// A parent that dies takes its processes with it: on a normal exit through the handler below, and
// on SIGKILL through the kernel's parent-death signal when setpriv is available.
const live = new Set<ChildProcess>();
/** Processes the stack itself signalled, whose exit is not reported as a crash. */
const signalled = new WeakSet<ChildProcess>();
let exitHookInstalled = false;
const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((path) => existsSync(path));

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const stack = new LocalStack(options);
  await stack.open();
  return stack;
}

class LocalStack implements Stack {
  gatewayUrl = "";
  ports: Record<string, number> = {};
  readonly logDir: string;
  readonly internalSecret: string;
  private readonly log: (line: string) => void;
  private readonly basePort: number;
  private readonly readyTimeoutMs: number;
  private readonly extraEnv: Record<string, string>;
  private readonly managed = new Map<string, Managed>();
  /** Set once the whole stack is being stopped: no exit after that is a crash. */
  private stopping = false;
  private gateway?: Gateway;
  private schedules?: { stop(): void };
  traces?: TraceReceiver;

  constructor(private readonly options: StackOptions) {
    this.log = options.log ?? (() => {});
    this.basePort = options.basePort ?? 8080;
    this.logDir = options.logDir ?? join(root, ".local", "logs");
    this.readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    // A fresh secret per run: nobody else on the machine can know it, so only this stack's sources and schedules get
    // past the internal functions' sender check.
    this.extraEnv = { INTERNAL_SECRET: randomBytes(32).toString("base64url"), ...options.env };
    this.internalSecret = this.extraEnv.INTERNAL_SECRET!;
  }

  get processes(): string[] {
    return [...this.managed.keys()];
  }

  /** Builds if asked, starts every process and the entry point, and returns once all are ready. */
  async open(): Promise<void> {
    mkdirSync(this.logDir, { recursive: true });
    installExitHook();
    if (this.options.build !== false) {
      const started = performance.now();
      await buildAll();
      this.log(`built ${FUNCTIONS.length} functions and ${SOURCES.length} sources in ${Math.round(performance.now() - started)} ms`);
    }
    let lastPort = this.plan();
    if (this.options.traces) lastPort = await this.collectTraces(lastPort + 1);
    await this.checkPortsFree();
    for (const m of this.managed.values()) writeFileSync(this.logPath(m.name), "");

    const targets: Record<string, number> = {};
    for (const m of this.managed.values()) {
      if (m.kind === "function") targets[m.name] = m.port;
    }
    try {
      for (const m of this.managed.values()) this.spawnProcess(m);
      const deadline = Date.now() + this.readyTimeoutMs;
      await Promise.all([...this.managed.values()].map((m) => this.waitReady(m, deadline)));
      this.gateway = await startGateway({ port: this.basePort, targets });
    } catch (err) {
      this.stopping = true;
      await Promise.all([...this.managed.values()].map((m) => this.stopProcess(m)));
      throw err;
    }
    this.gatewayUrl = `http://127.0.0.1:${this.gateway.port}`;
    this.ports = { gateway: this.gateway.port };
    for (const m of this.managed.values()) this.ports[m.name] = m.port;
    this.schedules = startSchedules(targets, this.internalSecret, this.log);
    this.log(`started ${this.processes.join(", ")} on ports ${this.basePort + 1}-${lastPort}; logs in ${this.logDir}`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.schedules?.stop();
    await Promise.all([...this.managed.values()].map((m) => this.stopProcess(m)));
    await this.gateway?.close();
    await this.traces?.close();
  }

  /** Starts the trace receiver on `port` and points every process's exporter at it; returns the port. */
  private async collectTraces(port: number): Promise<number> {
    if (!(await isFree(port))) throw new Error(`port ${port} (the trace receiver's) already in use`);
    this.traces = await startTraceReceiver({ port });
    this.log(`spans go to ${this.traces.url} (npm run -s trace -- <tripId>)`);
    writeFileSync(tracesUrlFile(this.logDir), `${this.traces.url}\n`);
    for (const m of this.managed.values()) {
      // Spans are sent within a fifth of a second of their end (the SDK's default is 5 s), so a booking's trace is
      // complete by the time someone asks for it. What the caller set wins.
      m.env = { OTEL_EXPORTER_OTLP_ENDPOINT: this.traces.url, OTEL_BSP_SCHEDULE_DELAY: "200", ...m.env };
    }
    return port;
  }

  async restart(name: string): Promise<void> {
    const m = this.get(name);
    await this.stopProcess(m);
    await this.startProcess(m);
  }

  kill(name: string, signal: NodeJS.Signals = "SIGKILL"): void {
    const child = this.get(name).child;
    if (!child) return;
    signalled.add(child);
    child.kill(signal);
  }

  start(name: string): Promise<void> {
    return this.startProcess(this.get(name));
  }

  async exited(name: string): Promise<void> {
    await this.get(name).exit;
  }

  logTail(name: string, lines = 20): string {
    try {
      return readFileSync(this.logPath(name), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /** Every function on the ports after the entry point's, then a source for each consumer; returns the last port. */
  private plan(): number {
    let port = this.basePort;
    for (const name of FUNCTIONS) {
      port++;
      this.managed.set(name, {
        name,
        kind: "function",
        port,
        bundle: bundlePath("functions", name),
        env: { ...process.env, ...this.extraEnv, PORT: String(port), SERVICE_NAME: name },
      });
    }
    for (const { stream, config } of CONSUMERS) {
      const sink = this.managed.get(config.durable_name);
      if (!sink) {
        this.log(`no function named ${config.durable_name} for consumer ${stream}/${config.durable_name}; its source is not started`);
        continue;
      }
      port++;
      const name = `source-${config.durable_name}`;
      this.managed.set(name, {
        name,
        kind: "source",
        port,
        bundle: bundlePath("sources", "jetstream"),
        env: {
          ...process.env,
          ...SOURCE_SETTINGS[config.durable_name],
          ...this.extraEnv,
          JS_STREAM: stream,
          JS_CONSUMER: config.durable_name,
          K_SINK: `http://127.0.0.1:${sink.port}`,
          PORT: String(port),
          SERVICE_NAME: name,
        },
      });
    }
    return port;
  }

  private async checkPortsFree(): Promise<void> {
    const ports = [this.basePort, ...[...this.managed.values()].map((m) => m.port)];
    const busy = (await Promise.all(ports.map(async (p) => ((await isFree(p)) ? undefined : p)))).filter((p) => p !== undefined);
    if (busy.length > 0) {
      throw new Error(
        `port${busy.length > 1 ? "s" : ""} ${busy.join(", ")} already in use: stop what listens there or choose another base port (UITGO_PORT)`,
      );
    }
  }

  private logPath(name: string): string {
    return join(this.logDir, `${name}.log`);
  }

  private get(name: string): Managed {
    const m = this.managed.get(name);
    if (!m) throw new Error(`no process named ${name}; there are ${this.processes.join(", ")}`);
    return m;
  }

  private spawnProcess(m: Managed): void {
    const fd = openSync(this.logPath(m.name), "a");
    writeSync(fd, `--- ${new Date().toISOString()} starting ${m.name} on port ${m.port}\n`);
    // stdout goes straight to the file; stderr (errors) also passes through here to be echoed.
    const [command, args] = setpriv
      ? [setpriv, ["--pdeathsig", "SIGTERM", "--", process.execPath, m.bundle]]
      : [process.execPath, [m.bundle]];
    const child = spawn(command, args, { cwd: root, env: m.env, stdio: ["ignore", fd, "pipe"] });
    closeSync(fd);
    m.child = child;
    live.add(child);

    const errFd = openSync(this.logPath(m.name), "a");
    let pending = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      writeSync(errFd, chunk);
      pending += chunk.toString();
      let newline: number;
      while ((newline = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim()) this.log(`${m.name}: ${summarize(line)}`);
      }
    });

    m.exit = new Promise<void>((resolve) => {
      child.once("error", (err) => this.log(`${m.name}: could not start: ${err.message}`));
      child.once("close", (code, signal) => {
        closeSync(errFd);
        live.delete(child);
        if (m.child === child) m.child = undefined;
        if (!this.stopping && !signalled.has(child)) {
          const how = signal ?? `code ${code}`;
          this.log(`${m.name} exited (${how}); its log is ${this.logPath(m.name)}`);
          this.options.onUnexpectedExit?.(m.name, how, this.logTail(m.name));
        }
        resolve();
      });
    });
  }

  private async waitReady(m: Managed, deadline: number): Promise<void> {
    const child = m.child;
    while (Date.now() < deadline) {
      if (!child || child.exitCode !== null || child.signalCode !== null || m.child !== child) {
        throw new Error(`${m.name} exited during start-up. Last lines of ${this.logPath(m.name)}:\n${this.logTail(m.name)}`);
      }
      if ((await probe(m.port, "/health/readiness")) === 200) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `${m.name} did not become ready on port ${m.port} within ${this.readyTimeoutMs / 1000} s ` +
        `(GET /health/readiness). Last lines of ${this.logPath(m.name)}:\n${this.logTail(m.name)}`,
    );
  }

  private async stopProcess(m: Managed, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = m.child;
    if (!child || !m.exit) return;
    signalled.add(child);
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await m.exit;
    clearTimeout(timer);
  }

  private async startProcess(m: Managed): Promise<void> {
    if (m.child) return;
    this.spawnProcess(m);
    await this.waitReady(m, Date.now() + this.readyTimeoutMs);
  }
}

/** The status of GET path on a local port, or 0 when nothing answers. */
function probe(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    // The wildcard address: it is taken when the port is taken on any interface, loopback included.
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** One readable line out of a JSON log line (or the line itself). */
function summarize(line: string): string {
  if (line.startsWith("{")) {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      const { level, time, msg, ...rest } = entry;
      void time;
      const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : "";
      return `${String(level ?? "error")}: ${String(msg ?? "")}${fields}`.slice(0, 500);
    } catch {
      // not JSON after all
    }
  }
  return line.slice(0, 500);
}

// Makes sure NATS (with JetStream), Redis and PostgreSQL answer on their standard local ports, then creates
// the shard databases, the schema, the streams and the consumers. Used by `npm start` and by the test suite.
// Servers that are already running are used as they are; missing ones are started (and installed with
// apt-get where this user may) and left running afterwards, like any system service.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, openSync, closeSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import postgres from "postgres";
import { loadConfig } from "../shared/config";
import { ensureJetStream } from "../shared/events/definitions";
import { REGIONS } from "../shared/regions";
import { seedDemoHomeContent } from "./demo-home-content";

export interface ProvisionOptions {
  log?: (line: string) => void;
}

const HOST = "127.0.0.1";
const NATS_PORT = 4222;
const REDIS_PORT = 6379;
const POSTGRES_PORT = 5432;
const START_TIMEOUT_MS = 20_000;

const root = fileURLToPath(new URL("..", import.meta.url));
const localDir = join(root, ".local");

export class ProvisionError extends Error {
  override name = "ProvisionError";
}

export async function provision(options: ProvisionOptions = {}): Promise<void> {
  const log = options.log ?? (() => {});
  const databases = shardDatabases();

  const [natsUp, redisUp, postgresUp] = await Promise.all([isListening(NATS_PORT), isListening(REDIS_PORT), isListening(POSTGRES_PORT)]);
  const started: string[] = [];
  await Promise.all([
    natsUp ? log(`nats: using the server on ${HOST}:${NATS_PORT}`) : startNats(log).then(() => started.push("nats-server")),
    redisUp ? log(`redis: using the server on ${HOST}:${REDIS_PORT}`) : startRedis(log).then(() => started.push("redis-server")),
    postgresUp ? log(`postgres: using the server on ${HOST}:${POSTGRES_PORT}`) : startPostgres(log).then(() => started.push("postgresql")),
  ]);
  if (started.length > 0) log(`started ${started.join(", ")}; they keep running after UIT-Go stops, like any system service`);

  await Promise.all([provisionNats(loadConfig().natsUrl, log), provisionPostgres(databases, log)]);
}

// ---------------------------------------------------------------------------------------------- NATS

// Streams and consumers go to the configured server (NATS_URL), which is the standard local one unless a
// suite or a benchmark runs on a server of its own.
async function provisionNats(url: string, log: (line: string) => void): Promise<void> {
  const nc = await natsConnect({ servers: url, name: "uitgo-provision", timeout: 5_000 }).catch((err: unknown) => {
    throw new ProvisionError(`nats: cannot connect to ${url}: ${message(err)}`);
  });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 }).catch((err: unknown) => {
      throw new ProvisionError(
        `nats: the server at ${url} does not have JetStream enabled (${message(err)}). ` +
          `Restart it with JetStream on, e.g. \`nats-server -a ${HOST} -p ${NATS_PORT} -js\`.`,
      );
    });
    const account = await jsm.getAccountInfo().catch((err: unknown) => {
      throw new ProvisionError(`nats: JetStream is not enabled at ${url}: ${message(err)}. Restart nats-server with -js.`);
    });
    log(`nats: JetStream enabled (${account.streams} streams, ${account.consumers} consumers)`);
    await ensureJetStream(jsm);
    log("nats: streams and consumers are up to date");
  } finally {
    await nc.close();
  }
}

async function startNats(log: (line: string) => void): Promise<void> {
  const binary = findBinary("nats-server") ?? (await install("nats-server", "nats-server", log), findBinary("nats-server"));
  if (!binary)
    throw new ProvisionError("nats: nats-server is still missing after installing it; install it and start it with `nats-server -js`");

  const sudo = await privilege();
  let storeDir: string;
  let logFile: string;
  if (sudo !== undefined && (await runPrivileged(sudo, "mkdir", ["-p", "/var/lib/nats-server"])).code === 0) {
    storeDir = "/var/lib/nats-server";
    logFile = "/var/log/nats-server.log";
  } else {
    storeDir = join(localDir, "nats");
    logFile = join(localDir, "logs", "nats-server.log");
    mkdirSync(storeDir, { recursive: true });
    mkdirSync(join(localDir, "logs"), { recursive: true });
  }
  const args = ["-a", HOST, "-p", String(NATS_PORT), "-js", "-sd", storeDir, "-l", logFile];
  log(`nats: starting ${binary} with JetStream (store ${storeDir}, log ${logFile})`);

  const daemon = findBinary("start-stop-daemon");
  if (daemon && sudo !== undefined) {
    // Matched by our own pid file, not by the binary: any other nats-server on the machine (another port, no
    // JetStream) would otherwise count as "already running" and nothing would be started.
    const pidFile = join(storeDir, "uitgo-nats-server.pid");
    const result = await runPrivileged(sudo, daemon, [
      "--start",
      "--pidfile",
      pidFile,
      "--make-pidfile",
      "--background",
      "--exec",
      binary,
      "--",
      ...args,
    ]);
    if (result.code === 1) {
      throw new ProvisionError(
        `nats: the nats-server started here before (pid file ${pidFile}) is still running but does not listen on ${HOST}:${NATS_PORT}; ` +
          `stop it (sudo kill $(cat ${pidFile})) and run again`,
      );
    }
    if (result.code !== 0) throw new ProvisionError(`nats: start-stop-daemon failed: ${result.output.trim()}`);
  } else {
    spawnDetached(binary, args);
  }
  await waitForPort(
    "nats",
    NATS_PORT,
    existsSync(logFile) ? `see ${logFile}` : `it wrote no log (${logFile}); run \`${binary} ${args.join(" ")}\` to see why`,
  );
}

// --------------------------------------------------------------------------------------------- Redis

async function startRedis(log: (line: string) => void): Promise<void> {
  const binary = findBinary("redis-server") ?? (await install("redis-server", "redis-server", log), findBinary("redis-server"));
  if (!binary) throw new ProvisionError("redis: redis-server is still missing after installing it");

  const sudo = await privilege();
  const base = ["--daemonize", "yes", "--bind", HOST, "-::1", "--port", String(REDIS_PORT), "--save", "", "--appendonly", "no"];
  const attempts: Array<{ dir: string; logFile: string }> =
    sudo !== undefined
      ? [
          { dir: "/var/lib/redis", logFile: "/var/log/redis/ci.log" },
          { dir: "/tmp", logFile: "/tmp/uitgo-redis.log" },
        ]
      : [{ dir: join(localDir, "redis"), logFile: join(localDir, "logs", "redis.log") }];

  let lastError = "";
  for (const { dir, logFile } of attempts) {
    if (sudo !== undefined) {
      await runPrivileged(sudo, "mkdir", ["-p", dir, join(logFile, "..")]);
    } else {
      mkdirSync(dir, { recursive: true });
      mkdirSync(join(logFile, ".."), { recursive: true });
    }
    log(`redis: starting ${binary} (no persistence, dir ${dir}, log ${logFile})`);
    const args = [...base, "--dir", dir, "--logfile", logFile];
    const result = sudo !== undefined ? await runPrivileged(sudo, binary, args) : await run(binary, args);
    if (result.code === 0) {
      await waitForPort("redis", REDIS_PORT, `see ${logFile}`);
      return;
    }
    lastError = result.output.trim();
  }
  throw new ProvisionError(`redis: redis-server did not start: ${lastError}`);
}

// ------------------------------------------------------------------------------------------ Postgres

async function startPostgres(log: (line: string) => void): Promise<void> {
  const sudo = await privilege();
  if (sudo === undefined) {
    throw new ProvisionError(
      `postgres: nothing listens on ${HOST}:${POSTGRES_PORT} and starting PostgreSQL needs root. ` +
        `Run \`sudo apt-get install -y postgresql && sudo pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\`, ` +
        `or point DATABASE_URL_<REGION> at a server you have.`,
    );
  }
  if (!findBinary("pg_ctlcluster")) await install("postgresql", "postgresql", log);

  let version = clusterVersion();
  if (!version) {
    // The package normally creates a "main" cluster; make one if it did not.
    const installed = readdirIfExists("/usr/lib/postgresql").sort(byVersion).pop();
    if (!installed) throw new ProvisionError("postgres: no PostgreSQL server version is installed under /usr/lib/postgresql");
    log(`postgres: creating cluster ${installed}/main`);
    const created = await runPrivileged(sudo, "pg_createcluster", [installed, "main"]);
    if (created.code !== 0) throw new ProvisionError(`postgres: pg_createcluster failed: ${created.output.trim()}`);
    version = installed;
  }
  log(`postgres: starting cluster ${version}/main`);
  const result = await runPrivileged(sudo, "pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "start"]);
  // Exit code 2 means it was already running (perhaps on another port, which waitForPort reports).
  if (result.code !== 0 && result.code !== 2) throw new ProvisionError(`postgres: pg_ctlcluster failed: ${result.output.trim()}`);
  await waitForPort("postgres", POSTGRES_PORT, `see /var/log/postgresql/postgresql-${version}-main.log`);
}

/** The shard databases the functions are configured with (DATABASE_URL_<REGION>), created on the local server. */
function shardDatabases(): string[] {
  const { shards } = loadConfig();
  return REGIONS.map((region) => {
    const name = decodeURIComponent(new URL(shards[region].primaryUrl).pathname.slice(1));
    if (!/^[a-z_][a-z0-9_]*$/.test(name))
      throw new ProvisionError(
        `DATABASE_URL_${region.toUpperCase()} must name a database of lower-case letters, digits and _, got "${name}"`,
      );
    return name;
  });
}

async function provisionPostgres(wanted: string[], log: (line: string) => void): Promise<void> {
  let sql = adminConnection("postgres");
  try {
    try {
      await sql`select 1`;
    } catch (err) {
      if (!isAuthFailure(err))
        throw new ProvisionError(`postgres: cannot connect to ${HOST}:${POSTGRES_PORT} as postgres: ${message(err)}`);
      await sql.end({ timeout: 1 }).catch(() => {});
      await allowLocalTrust(log, err);
      sql = adminConnection("postgres");
      await sql`select 1`.catch((retryErr: unknown) => {
        throw new ProvisionError(`postgres: still cannot connect as postgres after allowing trust on ${HOST}: ${message(retryErr)}`);
      });
    }

    const existing = new Set(
      (await sql<{ datname: string }[]>`select datname from pg_database where datname in ${sql(wanted)}`).map((row) => row.datname),
    );
    for (const name of wanted) {
      if (existing.has(name)) continue;
      try {
        await sql.unsafe(`CREATE DATABASE "${name}"`);
        log(`postgres: created database ${name}`);
      } catch (err) {
        // Another process (a parallel test run) created it first.
        if (!(err instanceof postgres.PostgresError && (err.code === "42P04" || err.code === "23505"))) throw err;
      }
    }
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }

  const schema = readFileSync(join(root, "db", "schema.sql"), "utf8");
  await Promise.all(
    // shardDatabases() names them in REGIONS' order.
    wanted.map(async (name, i) => {
      const db = adminConnection(name);
      try {
        await applySchema(db, schema);
        await seedDemoHomeContent(db, REGIONS[i]!);
      } catch (err) {
        throw new ProvisionError(`postgres: applying db/schema.sql and the demo home content to ${name} failed: ${message(err)}`);
      } finally {
        await db.end({ timeout: 1 }).catch(() => {});
      }
    }),
  );
  log(`postgres: databases ${wanted.join(", ")} have the schema and the demo home content`);
}

async function applySchema(db: postgres.Sql, schema: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.unsafe(schema);
      return;
    } catch (err) {
      // Two processes creating the same table at once: the loser sees a duplicate; the second pass is a no-op.
      const racing = err instanceof postgres.PostgresError && (err.code === "23505" || err.code === "42P07" || err.code === "42710");
      if (!racing || attempt >= 3) throw err;
    }
  }
}

function adminConnection(database: string): postgres.Sql {
  return postgres({ host: HOST, port: POSTGRES_PORT, user: "postgres", database, max: 1, connect_timeout: 5, onnotice: () => {} });
}

function isAuthFailure(err: unknown): boolean {
  return err instanceof postgres.PostgresError && (err.code === "28P01" || err.code === "28000");
}

/**
 * A fresh Debian install asks for a password on TCP. The functions connect as postgres without one, so on a
 * local cluster this user administers, let postgres in from the loopback addresses without a password.
 */
async function allowLocalTrust(log: (line: string) => void, cause: unknown): Promise<void> {
  const sudo = await privilege();
  const hint =
    `postgres: user postgres needs trust authentication on ${HOST}:${POSTGRES_PORT} (${message(cause)}). ` +
    `Add \`host all postgres 127.0.0.1/32 trust\` and \`host all postgres ::1/128 trust\` at the top of pg_hba.conf and reload PostgreSQL, ` +
    `or set DATABASE_URL_<REGION> with a password.`;
  if (sudo === undefined || !clusterVersion() || !findBinary("psql")) throw new ProvisionError(hint);

  const psql = (statement: string) => runPrivileged(sudo, "runuser", ["-u", "postgres", "--", "psql", "-X", "-qtA", "-c", statement]);
  const hba = await psql("show hba_file");
  const hbaFile = hba.output.trim().split("\n").pop()?.trim();
  if (hba.code !== 0 || !hbaFile) throw new ProvisionError(`${hint} (psql over the unix socket failed: ${hba.output.trim()})`);

  const lines =
    "# Added by UIT-Go local/provision.ts: the local stack connects as postgres without a password.\\nhost all postgres 127.0.0.1/32 trust\\nhost all postgres ::1/128 trust\\n";
  const edit = await runPrivileged(sudo, "sh", [
    "-c",
    `printf '${lines}' | cat - "$1" > "$1.uitgo" && cat "$1.uitgo" > "$1" && rm -f "$1.uitgo"`,
    "sh",
    hbaFile,
  ]);
  const reload = await psql("select pg_reload_conf()");
  if (edit.code !== 0 || reload.code !== 0)
    throw new ProvisionError(`${hint} (editing ${hbaFile} failed: ${edit.output.trim()} ${reload.output.trim()})`);
  log(`postgres: allowed user postgres without a password from the loopback addresses (${hbaFile})`);
}

function clusterVersion(): string | undefined {
  return readdirIfExists("/etc/postgresql")
    .filter((version) => existsSync(join("/etc/postgresql", version, "main")))
    .sort(byVersion)
    .pop();
}

// ------------------------------------------------------------------------------------------- helpers

function isListening(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: HOST, port });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

async function waitForPort(service: string, port: number, hint: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await isListening(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new ProvisionError(`${service}: nothing answers on ${HOST}:${port} ${START_TIMEOUT_MS / 1000} s after starting it; ${hint}`);
}

let privilegePromise: Promise<string[] | undefined> | undefined;

/** The command prefix that runs as root: [] when we are root, ["sudo", "-n"] with passwordless sudo, else undefined. */
function privilege(): Promise<string[] | undefined> {
  privilegePromise ??= (async () => {
    if (process.getuid?.() === 0) return [];
    if (findBinary("sudo") && (await run("sudo", ["-n", "true"])).code === 0) return ["sudo", "-n"];
    return undefined;
  })();
  return privilegePromise;
}

// apt-get takes a lock, so installs run one at a time even when services are started in parallel.
let aptQueue: Promise<unknown> = Promise.resolve();

async function install(binary: string, pkg: string, log: (line: string) => void): Promise<void> {
  const sudo = await privilege();
  if (sudo === undefined || !findBinary("apt-get")) {
    throw new ProvisionError(`${binary} is not installed and this user cannot install it. Run: sudo apt-get install -y ${pkg}`);
  }
  const task = aptQueue.then(async () => {
    log(`installing ${pkg} with apt-get (this can take a minute)`);
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    let result = await runPrivileged(sudo, "apt-get", ["install", "-y", "--no-install-recommends", pkg], env);
    if (result.code !== 0) {
      await runPrivileged(sudo, "apt-get", ["update"], env);
      result = await runPrivileged(sudo, "apt-get", ["install", "-y", "--no-install-recommends", pkg], env);
    }
    if (result.code !== 0) {
      const tail = result.output.trim().split("\n").slice(-5).join("\n");
      throw new ProvisionError(`apt-get install ${pkg} failed:\n${tail}\nRun: sudo apt-get install -y ${pkg}`);
    }
    log(`installed ${pkg}`);
  });
  aptQueue = task.catch(() => {});
  await task;
}

export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

interface RunResult {
  code: number;
  output: string;
}

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (err) => resolve({ code: 127, output: `${output}${message(err)}` }));
    child.once("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

function runPrivileged(prefix: string[], command: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  if (prefix.length === 0) return run(command, args, env);
  const envArgs = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  return run(prefix[0]!, [...prefix.slice(1), ...envArgs, command, ...args]);
}

function spawnDetached(command: string, args: string[]): void {
  const logs = join(localDir, "logs");
  mkdirSync(logs, { recursive: true });
  const out = openSync(join(logs, `${command.split("/").pop()}.out`), "a");
  const child = spawn(command, args, { detached: true, stdio: ["ignore", out, out] });
  child.unref();
  closeSync(out);
}

function readdirIfExists(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function byVersion(a: string, b: string): number {
  return Number.parseFloat(a) - Number.parseFloat(b);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// `npm run provision`: the same step on its own, for CI and for a cluster-less check.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await provision({ log: (line) => console.log(`  ${line}`) }).catch((err: unknown) => {
    console.error(message(err));
    process.exit(1);
  });
}

// Every setting a function or the source reads comes from here, once, at start-up.
import { perRegion, type Region } from "./regions";

export interface ShardConfig {
  primaryUrl: string;
  replicaUrl?: string;
}

export interface Config {
  serviceName: string;
  port: number;
  /** Interface to listen on: loopback unless HOST says otherwise (a pod sets 0.0.0.0, for its probes and scrapes). */
  host: string;
  natsUrl: string;
  redisUrl: string;
  shards: Record<Region, ShardConfig>;
  jwtSecret: string;
  /**
   * What the JetStream source and the schedules send in SENDER_HEADER, so an internal function can tell them from anyone
   * else who reaches it. Undefined only when deployed without one, where an internal function refuses to start.
   */
  internalSecret: string | undefined;
  /** Drivers whose last update is older than this are not available. */
  driverFreshMs: number;
  /** How often a function on the geo-index takes silent drivers out of it (0: never), and how many per Lua run. */
  driverSweepIntervalMs: number;
  driverSweepBatch: number;
  /** How far from the pickup assign-driver looks for a driver. */
  matchRadiusMeters: number;
  /** How long a trip keeps being matched (new drivers may come online) before it becomes no_driver. */
  matchDeadlineMs: number;
  /**
   * settle-dead-letters: a trip still requested this long after it entered matching is one matching will never
   * end (its event was never stored), and is ended as no_driver. At least matchDeadlineMs.
   */
  staleTripMs: number;
  /** Grace period between SIGTERM and a forced exit. */
  shutdownTimeoutMs: number;
  /** How long a request may wait on Redis, PostgreSQL or NATS before it is answered 503. */
  dependencyTimeoutMs: number;
  /** record-locations: rows in one INSERT at most, and how long the first row of a batch waits for others. */
  locationBatchMax: number;
  locationBatchWaitMs: number;
  /** create-trip: trips a rider may have requested, assigned, accepted or in ride at once (per shard); 0 is no limit. */
  maxActiveTripsPerRider: number;
  /** Bookings per rider and location updates per driver: `limit` per `windowSeconds`, at most `limit` at once. 0 turns one off. */
  bookingRate: RateLimit;
  locationRate: RateLimit;
  /** How long a request waits for the limiter's Redis before it goes ahead unlimited. */
  rateLimitTimeoutMs: number;
  /** home: how long promotions and news stay in the Redis cache, in seconds (0: not cached, every request reads PostgreSQL). */
  homeCacheTtlSeconds: number;
  /** home: how long a request waits for the cache's Redis before it reads PostgreSQL instead. */
  homeCacheTimeoutMs: number;
  /** watch-trip: how often an idle watcher's connection carries a heartbeat (an SSE comment, a WebSocket ping). */
  watchHeartbeatMs: number;
  /** Whether spans are exported (tracingConfigured); the SDK reads its own OTEL_* settings. */
  tracing: boolean;
}

export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

export const DEV_JWT_SECRET = "uitgo-local-development-secret";
/** Only for a process run by hand: the local stack gives its processes a random one for each run. */
export const DEV_INTERNAL_SECRET = "uitgo-local-development-internal-secret";

type Env = Record<string, string | undefined>;

/** Defaults the deploy manifests set or explain (infra/manifests), so that a change here shows in them too. */
export const DEFAULTS = { port: 8080, shutdownTimeoutMs: 20_000, dependencyTimeoutMs: 2_000, sinkTimeoutMs: 25_000 } as const;

export function loadConfig(env: Env = process.env): Config {
  // Knative sets K_SERVICE on every revision: a deployed function must never fall back to the dev secret.
  const deployed = env.K_SERVICE !== undefined;
  const jwtSecret = env.JWT_SECRET ?? (deployed ? undefined : DEV_JWT_SECRET);
  if (!jwtSecret) throw new Error("JWT_SECRET must be set");
  const internalSecret = internalSecretOf(env, deployed);

  const shards = perRegion((region) => {
    const key = region.toUpperCase();
    const shard: ShardConfig = {
      primaryUrl: env[`DATABASE_URL_${key}`] ?? `postgres://postgres@127.0.0.1:5432/uitgo_${region}`,
    };
    const replicaUrl = env[`DATABASE_REPLICA_URL_${key}`];
    if (replicaUrl) shard.replicaUrl = replicaUrl;
    return shard;
  });

  const matchDeadlineMs = int(env, "MATCH_DEADLINE_MS", 60_000);
  // A minute past the deadline: matching ends its own trips at the deadline, the sweep only those it never saw.
  const staleTripMs = int(env, "STALE_TRIP_MS", matchDeadlineMs + 60_000);
  if (staleTripMs < matchDeadlineMs)
    throw new Error(`STALE_TRIP_MS (${staleTripMs}) must be at least MATCH_DEADLINE_MS (${matchDeadlineMs})`);

  return {
    serviceName: env.K_SERVICE ?? env.SERVICE_NAME ?? "uitgo",
    port: int(env, "PORT", DEFAULTS.port),
    host: hostOf(env),
    natsUrl: env.NATS_URL ?? "nats://127.0.0.1:4222",
    redisUrl: env.REDIS_URL ?? "redis://127.0.0.1:6379",
    shards,
    jwtSecret,
    internalSecret,
    driverFreshMs: int(env, "DRIVER_FRESH_MS", 30_000),
    // Each second, a few hundred at a time: a silent driver is gone within a second of the freshness window, and one
    // batch holds Redis for well under a millisecond.
    driverSweepIntervalMs: int(env, "DRIVER_SWEEP_INTERVAL_MS", 1_000),
    driverSweepBatch: atLeastOne(env, "DRIVER_SWEEP_BATCH", 500),
    matchRadiusMeters: int(env, "MATCH_RADIUS_METERS", 5_000),
    matchDeadlineMs,
    staleTripMs,
    shutdownTimeoutMs: int(env, "SHUTDOWN_TIMEOUT_MS", DEFAULTS.shutdownTimeoutMs),
    dependencyTimeoutMs: int(env, "DEPENDENCY_TIMEOUT_MS", DEFAULTS.dependencyTimeoutMs),
    locationBatchMax: int(env, "LOCATION_BATCH_MAX", 500),
    locationBatchWaitMs: int(env, "LOCATION_BATCH_WAIT_MS", 10),
    maxActiveTripsPerRider: int(env, "MAX_ACTIVE_TRIPS_PER_RIDER", 1),
    // The original UIT-Go's bucket: 10 bookings a minute. A driver's app reports every few seconds and may send what it
    // buffered while offline at once, so two a second on average with a minute's worth at once.
    bookingRate: { limit: int(env, "BOOKING_RATE_LIMIT", 10), windowSeconds: atLeastOne(env, "BOOKING_RATE_WINDOW_SECONDS", 60) },
    locationRate: { limit: int(env, "LOCATION_RATE_LIMIT", 120), windowSeconds: atLeastOne(env, "LOCATION_RATE_WINDOW_SECONDS", 60) },
    rateLimitTimeoutMs: int(env, "RATE_LIMIT_TIMEOUT_MS", 100),
    homeCacheTtlSeconds: int(env, "HOME_CACHE_TTL_SECONDS", 300),
    homeCacheTimeoutMs: int(env, "HOME_CACHE_TIMEOUT_MS", 100),
    // Well inside the idle limits of the proxies on the way: Kourier sets none by default (config-kourier
    // stream-idle-timeout 0s), but load balancers in front of it commonly cut a connection idle for 60 s.
    watchHeartbeatMs: atLeastOne(env, "WATCH_HEARTBEAT_MS", 15_000),
    tracing: tracingConfigured(env),
  };
}

/** When a function refuses requests with 503 instead of queueing them (shared/http/overload.ts). 0 turns a limit off. */
export interface OverloadLimits {
  /** Requests in flight in one process at most. */
  maxInFlight: number;
  /** How long the oldest request in flight may have run before new requests are refused, ms. */
  maxWaitMs: number;
  /** How late the event loop may run before new requests are refused, ms. */
  maxLagMs: number;
  retryAfterSeconds: number;
}

export function loadOverloadLimits(env: Env = process.env): OverloadLimits {
  return {
    // A backstop: as many as the local entry point keeps open to one function, and far above any function's
    // containerConcurrency (infra/profiles.ts, 100 at most), which queue-proxy holds a pod to on Knative. A burst the
    // product takes at once (300 bookings, tests/booking.e2e.test.ts) stays under it; the time the oldest request
    // has waited is what tells overload from a burst (docs/performance.md).
    maxInFlight: int(env, "OVERLOAD_MAX_IN_FLIGHT", 1_024),
    // Answers take milliseconds; one still unanswered after a second waits on something that is not keeping up.
    // Half DEPENDENCY_TIMEOUT_MS's default, so a store that goes slow is felt before its requests time out.
    maxWaitMs: int(env, "OVERLOAD_MAX_WAIT_MS", 1_000),
    maxLagMs: int(env, "OVERLOAD_MAX_LAG_MS", 100),
    retryAfterSeconds: atLeastOne(env, "OVERLOAD_RETRY_AFTER_SECONDS", 1),
  };
}

export function usesDevSecret(config: Config): boolean {
  return config.jwtSecret === DEV_JWT_SECRET;
}

function hostOf(env: Env): string {
  return env.HOST || "127.0.0.1";
}

function internalSecretOf(env: Env, deployed: boolean): string | undefined {
  return env.INTERNAL_SECRET || (deployed ? undefined : DEV_INTERNAL_SECRET);
}

function int(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

/** The JetStream source: an always-on process that delivers one durable consumer to one sink (a Knative ContainerSource). */
export interface SourceConfig {
  serviceName: string;
  port: number;
  host: string;
  natsUrl: string;
  stream: string;
  consumer: string;
  /** Where each message goes as a CloudEvent; Knative injects it as K_SINK. */
  sink: string;
  /** Sent with every delivery, so the sink knows it is this source (see Config.internalSecret). */
  internalSecret: string | undefined;
  /** Extensions Knative asks every event to carry (K_CE_OVERRIDES). */
  ceOverrides: Record<string, string>;
  /** Deliveries (requests to the sink) in flight at once; with batching, each carries up to batchMax messages. */
  concurrency: number;
  /** Messages per request in the CloudEvents batched content mode; 1 delivers each alone in binary mode. */
  batchMax: number;
  /** With batching on, how long the first message of a batch waits for others before it is sent. */
  batchWaitMs: number;
  /** Must stay below the consumer's ack wait, or JetStream redelivers a message still in flight. */
  sinkTimeoutMs: number;
  shutdownTimeoutMs: number;
  dependencyTimeoutMs: number;
  tracing: boolean;
}

export function loadSourceConfig(env: Env = process.env): SourceConfig {
  const sink = env.K_SINK;
  const stream = env.JS_STREAM;
  const consumer = env.JS_CONSUMER;
  if (!sink || !stream || !consumer) throw new Error("K_SINK, JS_STREAM and JS_CONSUMER must be set");
  let ceOverrides: Record<string, string> = {};
  if (env.K_CE_OVERRIDES) {
    const parsed = JSON.parse(env.K_CE_OVERRIDES) as { extensions?: Record<string, string> };
    ceOverrides = parsed.extensions ?? {};
  }
  return {
    serviceName: env.SERVICE_NAME ?? `source-${consumer}`,
    port: int(env, "PORT", DEFAULTS.port),
    host: hostOf(env),
    natsUrl: env.NATS_URL ?? "nats://127.0.0.1:4222",
    stream,
    consumer,
    sink,
    internalSecret: internalSecretOf(env, env.K_SERVICE !== undefined || env.KUBERNETES_SERVICE_HOST !== undefined),
    ceOverrides,
    concurrency: atLeastOne(env, "SOURCE_CONCURRENCY", 64),
    batchMax: atLeastOne(env, "SOURCE_BATCH_MAX", 1),
    batchWaitMs: int(env, "SOURCE_BATCH_WAIT_MS", 20),
    sinkTimeoutMs: int(env, "SINK_TIMEOUT_MS", DEFAULTS.sinkTimeoutMs),
    shutdownTimeoutMs: int(env, "SHUTDOWN_TIMEOUT_MS", DEFAULTS.shutdownTimeoutMs),
    dependencyTimeoutMs: int(env, "DEPENDENCY_TIMEOUT_MS", DEFAULTS.dependencyTimeoutMs),
    tracing: tracingConfigured(env),
  };
}

/**
 * Tracing is on where an OTLP endpoint is given (the standard variables; OTEL_SDK_DISABLED=true turns it off again). The
 * rest of its configuration (sampler, batching, service name) is the SDK's own, from its OTEL_* variables.
 */
export function tracingConfigured(env: Env = process.env): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return Boolean(endpoint) && env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== "true";
}

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The least severe level written (LOG_LEVEL). info, the default, writes one access line per request; warn keeps only
 * what needs a look. Read by shared/log.ts when it loads, before any config.
 */
export function logLevelOf(env: Env = process.env): LogLevel {
  const raw = (env.LOG_LEVEL ?? "").trim().toLowerCase();
  if (raw === "") return "info";
  if (!(LOG_LEVELS as readonly string[]).includes(raw))
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  return raw as LogLevel;
}

function atLeastOne(env: Env, name: string, fallback: number): number {
  const value = int(env, name, fallback);
  if (value < 1) throw new Error(`${name} must be at least 1, got "${env[name]}"`);
  return value;
}

/**
 * What each consumer's source is told beyond the defaults, by durable name. The local stack and the Knative manifests
 * both set these, so a consumer is delivered the same way wherever it runs.
 */
export const SOURCE_SETTINGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // record-locations writes history in batches and takes batched mode: a few requests of many events each instead of
  // one request per event, which cost the source and the function most of their CPU per event. An event carries up
  // to 64 updates, so 32 events are up to 2,048 rows and 1.3 MB; 4 × 32 leaves most of the consumer's
  // max_ack_pending (2000) to a second replica on the cluster (infra/profiles.ts); the wait is short beside a
  // location's 4 s reporting period.
  "record-locations": { SOURCE_BATCH_MAX: "32", SOURCE_BATCH_WAIT_MS: "20", SOURCE_CONCURRENCY: "4" },
  // A matching is mostly waiting (a Redis claim, a PostgreSQL commit, a JetStream ack), so more in flight drains a
  // backlog faster: the bench's burst of 10,000 drained in 13.0–19.3 s (median 13.3) at 128 against 15.6–17.9 s at 64.
  "assign-driver": { SOURCE_CONCURRENCY: "128" },
};

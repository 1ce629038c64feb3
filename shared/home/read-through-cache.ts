// A read-through cache in Redis for content that every client reads alike and that changes rarely. A value is read
// from its store once per expiry, however many requests want it at once:
//   - in one process, the requests for a key share one lookup (and one store read when it misses);
//   - across processes (every pod of a function), the first to miss takes a short lock in Redis (SET NX PX) and reads
//     the store; the others wait for the value to appear, polling, and read the store themselves only if the lock's
//     holder ends without writing it (it failed, or it died and the lock expired).
// A lock rather than stale-while-revalidate because the key then expires exactly when its TTL says, and nothing but the
// key itself is kept; the price is a few polls of a waiting pod for one store read's time, once per expiry.
// Redis is optional: when it does not answer within timeoutMs, the value is read from the store, counted, and a
// warning logged once per outage (not once per request: an outage would flood the logs). Only the cache is written.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { LuaScript } from "../clients/redis";
import { log } from "../log";
import { counter } from "../metrics";

export interface ReadThroughOptions {
  /** How long a value stays cached, in seconds; 0 caches nothing (each read goes to the store; reads of a key at once share one). */
  ttlSeconds: number;
  /** How long one Redis command may take before the cache counts as unavailable for that read. */
  timeoutMs: number;
  /** How long a miss's lock holds: the longest the other processes wait for the holder before reading the store too. */
  lockMs: number;
  /** How often a process waiting on another's lock looks for the value. */
  pollMs?: number;
}

const unavailable = counter(
  "uitgo_home_cache_unavailable_total",
  "Home-content cache commands that Redis did not answer in time (the content was read from PostgreSQL), by command",
  ["operation"],
);

// Deletes the lock only if it is still ours: once expired, it may be another process's.
const RELEASE = new LuaScript(
  "release-lock",
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/** What a Redis command answers when Redis did not. */
const NO_ANSWER = Symbol("no answer");

export class ReadThroughCache {
  private readonly flights = new Map<string, Promise<unknown>>();
  private readonly pollMs: number;
  private redisDown = false;

  constructor(
    private readonly redis: Redis,
    private readonly options: ReadThroughOptions,
  ) {
    this.pollMs = options.pollMs ?? 10;
  }

  /** The cached value of `key`, or `load()`'s (cached for the next readers). `load` may throw: nothing is cached then. */
  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    let flight = this.flights.get(key) as Promise<T> | undefined;
    if (!flight) {
      flight = this.lookUp(key, load).finally(() => this.flights.delete(key));
      this.flights.set(key, flight);
    }
    return flight;
  }

  private async lookUp<T>(key: string, load: () => Promise<T>): Promise<T> {
    if (this.options.ttlSeconds === 0) return load();
    const cached = await this.command("get", () => this.redis.get(key));
    if (cached === NO_ANSWER) return load();
    if (cached !== null) return JSON.parse(cached) as T;

    const lock = `${key}:lock`;
    const token = randomUUID();
    const locked = await this.command("lock", () => this.redis.set(lock, token, "PX", this.options.lockMs, "NX"));
    if (locked === NO_ANSWER) return load();
    if (locked === null) {
      const written = await this.waitForHolder(key, lock);
      if (written !== undefined) return JSON.parse(written) as T;
    } else {
      // A holder may have written the value and released its lock between our GET and our SET NX (it writes before it
      // releases, so the value is there by now).
      const written = await this.command("get", () => this.redis.get(key));
      if (typeof written === "string") {
        void this.command("release", () => RELEASE.run(this.redis, [lock], [token]));
        return JSON.parse(written) as T;
      }
    }

    let value: T;
    try {
      value = await load();
    } catch (err) {
      // The others need not wait out the lock to find that nothing is coming.
      if (locked !== null) void this.command("release", () => RELEASE.run(this.redis, [lock], [token]));
      throw err;
    }
    await this.command("store", () =>
      Promise.all([
        this.redis.set(key, JSON.stringify(value), "EX", this.options.ttlSeconds),
        ...(locked !== null ? [RELEASE.run(this.redis, [lock], [token])] : []),
      ]),
    );
    return value;
  }

  /** The value another process's lock holder wrote, or undefined once the lock is gone without one (or Redis is). */
  private async waitForHolder(key: string, lock: string): Promise<string | undefined> {
    const deadline = performance.now() + this.options.lockMs;
    while (performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
      // The lock before the key: the holder writes the key before it releases the lock, so a lock found gone means the
      // key read after it is all there will be. Two commands rather than one MGET: the two keys need not share a Redis
      // Cluster slot.
      const answer = await this.command("wait", () => Promise.all([this.redis.get(lock), this.redis.get(key)]));
      if (answer === NO_ANSWER) return undefined;
      const [holder, value] = answer;
      if (value !== null && value !== undefined) return value;
      if (holder === null) return undefined;
    }
    return undefined;
  }

  /** Runs one Redis command within the timeout; NO_ANSWER (counted, and logged once per outage) when Redis did not answer. */
  private async command<R>(operation: string, run: () => Promise<R>): Promise<R | typeof NO_ANSWER> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    try {
      const answer = await Promise.race([run(), timeout]);
      if (this.redisDown) {
        this.redisDown = false;
        log("info", "home cache: Redis answers again", { operation });
      }
      return answer;
    } catch (err) {
      unavailable.inc({ operation });
      if (!this.redisDown) {
        this.redisDown = true;
        log("warn", "home cache: Redis did not answer, serving from PostgreSQL", { operation, err: String(err) });
      }
      return NO_ANSWER;
    } finally {
      clearTimeout(timer);
    }
  }
}

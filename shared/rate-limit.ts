// Per-client rate limits in Redis: GCRA (the generic cell rate algorithm), one Lua script per decision, so a check is
// one round trip and atomic however many function instances share the key. GCRA keeps one number per client (the
// theoretical arrival time of its next request) and allows `limit` requests at once, then one per window/limit.
// A limiter whose Redis does not answer within its timeout lets the request through and counts it: booking and
// reporting must not stop because the limiter's store is down.
import type { Redis } from "ioredis";
import { LuaScript } from "./clients/redis";
import type { RateLimit } from "./config";
import { counter } from "./metrics";

export interface RateDecision {
  allowed: boolean;
  /** Requests still allowed right now after this one. */
  remaining: number;
  /** Seconds until the full allowance is back. */
  resetSeconds: number;
  /** When refused: seconds until one more request is allowed. */
  retryAfterSeconds: number;
}

// KEYS[1]: the client's key. ARGV: the interval between requests and the window, in ms. Redis's own clock, so every
// instance agrees on the time. Returns {allowed, remaining, ms until reset, ms until the next request is allowed}.
const GCRA = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
if next_tat - now > window then
  return {0, 0, tat - now, next_tat - window - now}
end
redis.call('SET', KEYS[1], next_tat, 'PX', math.max(1, math.ceil(next_tat - now)))
return {1, math.floor((window - (next_tat - now)) / interval), next_tat - now, 0}
`);

const unavailable = counter("uitgo_rate_limiter_unavailable_total", "Requests let through unlimited because the rate limiter's Redis did not answer", ["limit"]);
const refused = counter("uitgo_rate_limited_total", "Requests refused by a rate limit", ["limit"]);

export class RateLimiter {
  private readonly intervalMs: number;

  constructor(
    private readonly redis: Redis,
    /** Names the limit in keys, metrics and the RateLimit headers. */
    readonly name: string,
    readonly policy: RateLimit,
    private readonly timeoutMs: number,
  ) {
    this.intervalMs = (policy.windowSeconds * 1000) / Math.max(1, policy.limit);
  }

  get enabled(): boolean {
    return this.policy.limit > 0;
  }

  /** Counts one request of `client`; undefined when the limit is off or Redis did not answer in time (let through). */
  async take(client: string): Promise<RateDecision | undefined> {
    if (!this.enabled) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.timeoutMs)));
    const decision = GCRA.run(this.redis, [`ratelimit:${this.name}:${client}`], [this.intervalMs, this.policy.windowSeconds * 1000]).then(
      (reply) => {
        const [allowed, remaining, resetMs, retryMs] = reply as [number, number, number, number];
        return { allowed: allowed === 1, remaining, resetSeconds: Math.ceil(resetMs / 1000), retryAfterSeconds: Math.max(1, Math.ceil(retryMs / 1000)) };
      },
      () => undefined,
    );
    const result = await Promise.race([decision, timeout]);
    clearTimeout(timer);
    if (result === undefined) unavailable.inc({ limit: this.name });
    else if (!result.allowed) refused.inc({ limit: this.name });
    return result;
  }
}

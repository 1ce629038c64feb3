// Per-client rate limits in Redis: GCRA (the generic cell rate algorithm) in a Lua script, so a decision is atomic
// however many function instances share the key, and the decisions of one turn of the event loop share one round trip.
// GCRA keeps one number per client (the theoretical arrival time of its next request) and allows `limit` requests at
// once, then one per window/limit.
// A limiter whose Redis does not answer within its timeout lets the request through and counts it: booking and
// reporting must not stop because the limiter's store is down.
import type { Redis } from "ioredis";
import { LuaScript } from "./clients/redis";
import type { RateLimit } from "./config";
import { GroupCommit } from "./group-commit";
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

// KEYS: one per decision, in order (a client may appear twice). ARGV: the interval between requests and the window, in
// ms. Redis's own clock, so every instance agrees on the time. Returns, per key, {allowed, remaining, ms until reset,
// ms until the next request is allowed}.
const GCRA = new LuaScript(
  "rate limit",
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local out = {}
for _, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local next_tat = tat + interval
  if next_tat - now > window then
    out[#out + 1] = {0, 0, tat - now, next_tat - window - now}
  else
    redis.call('SET', key, next_tat, 'PX', math.max(1, math.ceil(next_tat - now)))
    out[#out + 1] = {1, math.floor((window - (next_tat - now)) / interval), next_tat - now, 0}
  end
end
return out
`,
);

/** Decisions of one limit in one script at most, so no script keeps Redis's other clients waiting long. */
const MAX_DECISIONS_PER_SCRIPT = 64;

const unavailable = counter(
  "uitgo_rate_limiter_unavailable_total",
  "Requests let through unlimited because the rate limiter's Redis did not answer",
  ["limit"],
);
const refused = counter("uitgo_rate_limited_total", "Requests refused by a rate limit", ["limit"]);

export class RateLimiter {
  private readonly intervalMs: number;
  private readonly decisions: GroupCommit<string, RateDecision>;

  constructor(
    private readonly redis: Redis,
    /** Names the limit in keys, metrics and the RateLimit headers. */
    readonly name: string,
    readonly policy: RateLimit,
    private readonly timeoutMs: number,
  ) {
    this.intervalMs = (policy.windowSeconds * 1000) / Math.max(1, policy.limit);
    // The requests handled in one turn of the event loop are decided by one script: one round trip for all of them.
    this.decisions = new GroupCommit((clients) => this.decide(clients), { maxBatch: MAX_DECISIONS_PER_SCRIPT, maxWaitMs: 0 });
  }

  get enabled(): boolean {
    return this.policy.limit > 0;
  }

  /** Counts one request of `client`; undefined when the limit is off or Redis did not answer in time (let through). */
  async take(client: string): Promise<RateDecision | undefined> {
    if (!this.enabled) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.timeoutMs)));
    const decision = this.decisions.submit(client).catch(() => undefined);
    const result = await Promise.race([decision, timeout]);
    clearTimeout(timer);
    if (result === undefined) unavailable.inc({ limit: this.name });
    else if (!result.allowed) refused.inc({ limit: this.name });
    return result;
  }

  private async decide(clients: string[]): Promise<RateDecision[]> {
    // One hash tag per limit: a batch's keys share a slot, as a script's keys must on a Redis Cluster.
    const keys = clients.map((client) => `ratelimit:{${this.name}}:${client}`);
    const replies = (await GCRA.run(this.redis, keys, [this.intervalMs, this.policy.windowSeconds * 1000])) as [
      number,
      number,
      number,
      number,
    ][];
    return replies.map(([allowed, remaining, resetMs, retryMs]) => ({
      allowed: allowed === 1,
      remaining,
      resetSeconds: Math.ceil(resetMs / 1000),
      retryAfterSeconds: Math.max(1, Math.ceil(retryMs / 1000)),
    }));
  }
}

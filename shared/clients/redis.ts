// Redis for the live driver geo-index. Commands fail fast while disconnected, so a request
// gets its 503 at once instead of waiting in an offline queue.
import { createHash } from "node:crypto";
import { once } from "node:events";
import { Redis, ReplyError } from "ioredis";
import { DependencyUnavailable } from "./dependency";
import type { DependencyHandle } from "./dependency";
import { dbSpan } from "../telemetry/tracing";

export function connectRedis(url: string, timeoutMs: number): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  // Without a listener ioredis prints every failed reconnect; readiness already reports the state.
  redis.on("error", () => {});
  return redis;
}

export function redisHandle(redis: Redis): DependencyHandle {
  return {
    name: "redis",
    ping: async () => {
      // A cold start's first readiness probe usually arrives while the first connection is still being made;
      // answering "down" then only costs another probe. The wait ends at the first connection error, and the
      // probe's timeout bounds it.
      if (redis.status === "connecting" || redis.status === "connect") await once(redis, "ready");
      return redis.ping();
    },
    close: () => redis.quit().catch(() => redis.disconnect()),
  };
}

/** Script and type errors are bugs and stay errors; anything else means Redis did not answer. */
export async function onRedis<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof ReplyError) throw err;
    throw new DependencyUnavailable("redis", err);
  }
}

/** A Lua script run by its SHA, loading it on the first NOSCRIPT (after a Redis restart, say). */
export class LuaScript {
  private readonly sha: string;
  private readonly summary: string;

  /** `name` says what the script does, in its spans (EVALSHA claim). */
  constructor(
    name: string,
    private readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
    this.summary = `EVALSHA ${name}`;
  }

  run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return dbSpan("redis", this.summary, String(redis.options.db ?? 0), () => this.runScript(redis, keys, args));
  }

  private async runScript(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof ReplyError && (err as Error).message.startsWith("NOSCRIPT"))
        return redis.eval(this.source, keys.length, ...keys, ...args);
      throw err;
    }
  }
}

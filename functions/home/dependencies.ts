// home's dependencies, built in one place for its index.ts and its test.
import { connectRedis, redisHandle } from "../../shared/clients/redis";
import type { Config } from "../../shared/config";
import { HomeContent } from "../../shared/home/home-content";
import { HomeFeed } from "../../shared/home/home-feed";
import { ReadThroughCache } from "../../shared/home/read-through-cache";
import type { HomeDeps } from "./app";

export function connectDependencies(config: Config) {
  const content = HomeContent.connect(config);
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  // A miss's lock lasts as long as a request may wait on a store: a read slower than that is already failing.
  const cache = new ReadThroughCache(redis, {
    ttlSeconds: config.homeCacheTtlSeconds,
    timeoutMs: config.homeCacheTimeoutMs,
    lockMs: config.dependencyTimeoutMs,
  });
  const deps: HomeDeps = { feed: new HomeFeed(content, cache), jwtSecret: config.jwtSecret };
  // The content is served from PostgreSQL while the cache's Redis is down, so Redis is not needed for readiness.
  return { deps, handles: [...content.handles(), { ...redisHandle(redis), optional: true }], content, redis };
}

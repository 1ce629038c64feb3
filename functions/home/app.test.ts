import type { Redis } from "ioredis";
import type postgres from "postgres";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../shared/config";
import type { DependencyHandle } from "../../shared/clients/dependency";
import { newsKey, PROMOTIONS_KEY, type HomeFeed } from "../../shared/home/home-feed";
import { REGIONS, perRegion, type Region } from "../../shared/regions";
import { bearer } from "../../tests/support/auth";
import { connectedRedis, expectError } from "../../tests/support/http";
import { inProcess, type TestFunction } from "../../tests/support/in-process";
import { linesOf } from "../../tests/support/log-lines";
import { TEST_ENV } from "../../tests/support/test-env";
import { waitFor } from "../../harness/processes";
import { resetState, shardSql } from "../../harness/state";
import { TcpProxy } from "../../harness/tcp-proxy";
import { homeApp } from "./app";
import { connectDependencies } from "./dependencies";

const config = loadConfig();
const RIDER = bearer("rider", "rider-home-1");
const HOUR_MS = 3_600_000;

let shards: Record<Region, postgres.Sql>;
let redis: Redis;
/** Pods started by one test, closed after it. */
const opened: DependencyHandle[][] = [];
const proxies: TcpProxy[] = [];

/** The function on its own dependencies, as one pod of it; `env` overrides the test environment. */
async function start(env: Record<string, string> = {}) {
  const wired = connectDependencies(loadConfig({ ...process.env, ...env }));
  opened.push(wired.handles);
  await Promise.all(wired.handles.map((handle) => handle.ping()));
  return { ...wired, fn: inProcess(homeApp(wired.deps), wired.handles) };
}

async function proxy(port: number): Promise<TcpProxy> {
  const relay = await TcpProxy.start({ host: "127.0.0.1", port });
  proxies.push(relay);
  return relay;
}

beforeAll(async () => {
  shards = perRegion((region) => shardSql(region));
  redis = await connectedRedis();
});

afterEach(async () => {
  // Open again before closing, so that every client says goodbye instead of waiting out a cut connection.
  await Promise.all(proxies.map((relay) => relay.open()));
  await Promise.all(opened.splice(0).flatMap((handles) => handles.map((handle) => handle.close())));
  await Promise.all(proxies.splice(0).map((relay) => relay.cut()));
  vi.restoreAllMocks();
});

afterAll(async () => {
  await Promise.all([redis.quit(), ...REGIONS.map((region) => shards[region].end())]);
});

beforeEach(async () => {
  await resetState();
  await Promise.all(REGIONS.map((region) => shards[region]`truncate promotions, news`));
});

function promotion(region: Region, id: string, startedHoursAgo: number, endsInHours = 24, title = `${id} title`) {
  const now = Date.now();
  return shards[region]`
    insert into promotions (id, title, body, image_url, valid_from, valid_until)
    values (${id}, ${title}, ${`${id} body`}, ${`https://images.test/${id}.jpg`}, ${new Date(now - startedHoursAgo * HOUR_MS)},
            ${new Date(now + endsInHours * HOUR_MS)})`;
}

function news(region: Region, id: string, publishedHoursAgo: number) {
  return shards[region]`
    insert into news (id, title, summary, published_at)
    values (${id}, ${`${id} title`}, ${`${id} summary`}, ${new Date(Date.now() - publishedHoursAgo * HOUR_MS)})`;
}

async function ids(res: Response): Promise<string[]> {
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: { id: string }[] }).items.map((item) => item.id);
}

/** A counter's value on the function's /metrics (0 before its first increment). */
async function metric(fn: TestFunction, name: string, labels: string): Promise<number> {
  const text = await (await fn.request("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

const contentReads = (fn: TestFunction, content: "promotions" | "news") =>
  metric(fn, "uitgo_home_content_reads_total", `content="${content}"`);

describe("home", () => {
  let fn: TestFunction;
  let feed: HomeFeed;
  let handles: DependencyHandle[];

  beforeAll(async () => {
    const wired = connectDependencies(config);
    ({ handles } = wired);
    feed = wired.deps.feed;
    await Promise.all(handles.map((handle) => handle.ping()));
    fn = inProcess(homeApp(wired.deps), handles);
  });

  afterAll(() => Promise.all(handles.map((handle) => handle.close())));

  describe("content", () => {
    it("answers the promotions running now, newest first, from every shard, on /v1/promotions and /promotions alike", async () => {
      await promotion("vn", "vn-new", 1);
      await promotion("th", "th-middle", 5);
      await promotion("vn", "vn-old", 48);
      await promotion("vn", "vn-ended", 48, -1);
      await promotion("th", "th-not-yet", -1);

      const api = await fn.request("/v1/promotions", { headers: RIDER });
      const client = await fn.request("/promotions", { headers: bearer("driver", "driver-home-1") });

      expect(api.status).toBe(200);
      const body = (await api.json()) as { items: Record<string, unknown>[] };
      expect(body.items.map((item) => item.id)).toEqual(["vn-new", "th-middle", "vn-old"]);
      expect(body.items[1]).toEqual({
        id: "th-middle",
        region: "th",
        title: "th-middle title",
        body: "th-middle body",
        imageUrl: "https://images.test/th-middle.jpg",
        validFrom: expect.stringMatching(/Z$/),
        validUntil: expect.stringMatching(/Z$/),
      });
      expect(await client.json()).toEqual(body);
    });

    it("answers the latest news, newest first across shards, 10 unless a limit says otherwise, on /v1/news and /news alike", async () => {
      for (let i = 1; i <= 12; i++) await news(i % 2 === 0 ? "vn" : "th", `news-${String(i).padStart(2, "0")}`, i);
      await news("vn", "news-scheduled", -1);
      const newest = (n: number) => Array.from({ length: n }, (_, i) => `news-${String(i + 1).padStart(2, "0")}`);

      expect(await ids(await fn.request("/v1/news", { headers: RIDER }))).toEqual(newest(10));
      expect(await ids(await fn.request("/news?limit=3", { headers: RIDER }))).toEqual(newest(3));
      const api = await (await fn.request("/v1/news?limit=50", { headers: RIDER })).json();
      const client = await (await fn.request("/news?limit=50", { headers: RIDER })).json();
      expect(client).toEqual(api);
      expect((api as { items: { id: string }[] }).items.map((item) => item.id)).toEqual(newest(12));
      expect((api as { items: unknown[] }).items[0]).toEqual({
        id: "news-01",
        region: "th",
        title: "news-01 title",
        summary: "news-01 summary",
        publishedAt: expect.stringMatching(/Z$/),
      });
    });

    it("stops showing a cached promotion once it has ended", async () => {
      await promotion("vn", "vn-ends-soon", 1, 0.5);
      await promotion("vn", "vn-runs-on", 2);

      expect((await feed.promotions()).map((p) => p.id)).toEqual(["vn-ends-soon", "vn-runs-on"]);
      expect((await feed.promotions(Date.now() + HOUR_MS)).map((p) => p.id)).toEqual(["vn-runs-on"]);
    });
  });

  describe("the cache", () => {
    it("answers from Redis after the first read, for HOME_CACHE_TTL_SECONDS, until the key is gone", async () => {
      await promotion("vn", "vn-first", 1, 24, "before");
      await news("th", "th-first", 1);
      const read = async (path: string) => (await fn.request(path, { headers: RIDER })).json();
      const before = { promotions: await read("/v1/promotions"), news: await read("/v1/news?limit=5") };

      await shards.vn`update promotions set title = 'after'`;
      await promotion("th", "th-added", 0.5);
      await news("vn", "vn-added", 0.5);

      expect(await read("/promotions")).toEqual(before.promotions);
      expect(await read("/v1/news?limit=5")).toEqual(before.news);
      for (const key of [PROMOTIONS_KEY, newsKey(5)]) {
        const ttl = await redis.ttl(key);
        expect(ttl, key).toBeLessThanOrEqual(config.homeCacheTtlSeconds);
        expect(ttl, key).toBeGreaterThanOrEqual(config.homeCacheTtlSeconds - 1);
      }
      expect(config.homeCacheTtlSeconds).toBe(300);

      await redis.del(PROMOTIONS_KEY, newsKey(5));
      const promotions = (await read("/v1/promotions")) as { items: { id: string; title: string }[] };
      expect(promotions.items.map((p) => [p.id, p.title])).toEqual([
        ["th-added", "th-added title"],
        ["vn-first", "after"],
      ]);
      expect(((await read("/v1/news?limit=5")) as { items: { id: string }[] }).items.map((n) => n.id)).toEqual(["vn-added", "th-first"]);
    });

    it("reads PostgreSQL once for 50 requests on a cold key, and once for two pods", async () => {
      await promotion("vn", "vn-crowd", 1);
      const other = await start();
      const readsBefore = await contentReads(fn, "promotions");

      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (i % 2 === 0 ? fn : other.fn).request(i % 4 < 2 ? "/v1/promotions" : "/promotions", { headers: RIDER }),
        ),
      );

      expect(answers.map((res) => res.status)).toEqual(Array(50).fill(200));
      const bodies = await Promise.all(answers.map((res) => res.json()));
      for (const body of bodies) expect(body).toEqual(bodies[0]);
      expect((bodies[0] as { items: { id: string }[] }).items.map((p) => p.id)).toEqual(["vn-crowd"]);
      expect((await contentReads(fn, "promotions")) - readsBefore).toBe(1);
    });

    it("reads PostgreSQL once for 50 requests of one pod on a cold news key", async () => {
      await news("vn", "vn-crowd", 1);
      const readsBefore = await contentReads(fn, "news");

      const answers = await Promise.all(Array.from({ length: 50 }, () => fn.request("/v1/news?limit=7", { headers: RIDER })));

      expect(answers.map((res) => res.status)).toEqual(Array(50).fill(200));
      expect((await contentReads(fn, "news")) - readsBefore).toBe(1);
      expect(await redis.exists(newsKey(7))).toBe(1);
    });

    it("caches nothing with HOME_CACHE_TTL_SECONDS=0", async () => {
      const uncached = await start({ HOME_CACHE_TTL_SECONDS: "0" });
      await promotion("vn", "vn-uncached", 1);
      const readsBefore = await contentReads(uncached.fn, "promotions");

      expect(await ids(await uncached.fn.request("/v1/promotions", { headers: RIDER }))).toEqual(["vn-uncached"]);
      expect(await ids(await uncached.fn.request("/v1/promotions", { headers: RIDER }))).toEqual(["vn-uncached"]);

      expect((await contentReads(uncached.fn, "promotions")) - readsBefore).toBe(2);
      expect(await redis.exists(PROMOTIONS_KEY)).toBe(0);
    });
  });

  describe("Redis down", () => {
    async function throughProxy() {
      const relay = await proxy(6379);
      const pod = await start({ REDIS_URL: TEST_ENV.REDIS_URL.replace(":6379/", `:${relay.port}/`) });
      return { relay, ...pod };
    }

    it("serves from PostgreSQL with a warning and a count, and stays ready", async () => {
      const { relay, fn: cut } = await throughProxy();
      await promotion("vn", "vn-before", 1);
      expect(await ids(await cut.request("/v1/promotions", { headers: RIDER }))).toEqual(["vn-before"]);
      await promotion("th", "th-during", 0.5);
      const unavailableBefore = await metric(cut, "uitgo_home_cache_unavailable_total", 'operation="get"');
      let res: Response | undefined;
      const lines = await linesOf(async () => {
        await relay.cut();
        res = await cut.request("/v1/promotions", { headers: RIDER });
      });

      expect(await ids(res!)).toEqual(["th-during", "vn-before"]);
      expect(await metric(cut, "uitgo_home_cache_unavailable_total", 'operation="get"')).toBeGreaterThan(unavailableBefore);
      expect(lines).toContainEqual(expect.objectContaining({ level: "warn", msg: expect.stringContaining("serving from PostgreSQL") }));
      expect(await ids(await cut.request("/news", { headers: RIDER }))).toEqual([]);
      const readiness = await cut.request("/health/readiness");
      expect(readiness.status).toBe(200);
      expect(await readiness.json()).toMatchObject({ dependencies: { redis: "down", "postgres-vn": "up", "postgres-th": "up" } });
    });

    it("still reads PostgreSQL once for 50 requests at once, without Redis's lock", async () => {
      const { relay, fn: cut } = await throughProxy();
      await promotion("vn", "vn-crowd", 1);
      await relay.cut();
      const readsBefore = await contentReads(cut, "promotions");

      const answers = await Promise.all(Array.from({ length: 50 }, () => cut.request("/v1/promotions", { headers: RIDER })));

      expect(answers.map((res) => res.status)).toEqual(Array(50).fill(200));
      expect((await contentReads(cut, "promotions")) - readsBefore).toBe(1);
    });

    it("serves from PostgreSQL within HOME_CACHE_TIMEOUT_MS when Redis goes silent", async () => {
      const { relay, fn: stalled } = await throughProxy();
      await promotion("vn", "vn-silent", 1);
      relay.stall();

      const started = performance.now();
      const res = await stalled.request("/v1/promotions", { headers: RIDER });

      expect(await ids(res)).toEqual(["vn-silent"]);
      // One command times out, then PostgreSQL answers; never the 2 s DEPENDENCY_TIMEOUT_MS.
      expect(performance.now() - started).toBeLessThan(config.homeCacheTimeoutMs + 500);
      relay.resume();
    });
  });

  describe("PostgreSQL down", () => {
    async function throughProxy() {
      const relay = await proxy(5432);
      const viaRelay = (url: string) => url.replace(":5432/", `:${relay.port}/`);
      const pod = await start({ DATABASE_URL_VN: viaRelay(TEST_ENV.DATABASE_URL_VN), DATABASE_URL_TH: viaRelay(TEST_ENV.DATABASE_URL_TH) });
      return { relay, ...pod };
    }

    it("serves what is cached, and answers 503 with Retry-After for what is not", async () => {
      const { relay, fn: cut } = await throughProxy();
      await promotion("vn", "vn-cached", 1);
      expect(await ids(await cut.request("/v1/promotions", { headers: RIDER }))).toEqual(["vn-cached"]);

      await relay.cut();

      expect(await ids(await cut.request("/promotions", { headers: RIDER }))).toEqual(["vn-cached"]);
      for (const path of ["/v1/news", "/news?limit=3"]) {
        const res = await cut.request(path, { headers: RIDER });
        await expectError(res, 503, "service_unavailable", path);
        expect(res.headers.get("retry-after"), path).toMatch(/^\d+$/);
      }
      await redis.del(PROMOTIONS_KEY);
      const cold = await cut.request("/v1/promotions", { headers: RIDER });
      await expectError(cold, 503, "service_unavailable");
      expect(cold.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(await redis.exists(PROMOTIONS_KEY)).toBe(0);

      await relay.open();
      await waitFor(async () => (await cut.request("/v1/promotions", { headers: RIDER })).status === 200, 10_000, "home to recover");
      expect(await ids(await cut.request("/v1/promotions", { headers: RIDER }))).toEqual(["vn-cached"]);
    });
  });

  describe("bad input", () => {
    it("refuses a news limit that is not a whole number from 1 to 50, on both paths", async () => {
      for (const path of ["/v1/news", "/news"]) {
        for (const limit of ["0", "51", "-1", "2.5", "ten", "1e400"]) {
          const label = `${path}?limit=${limit}`;
          const error = await expectError(await fn.request(`${path}?limit=${limit}`, { headers: RIDER }), 400, "invalid_request", label);
          expect(error.details, label).toEqual([{ field: "limit", issue: expect.any(String) }]);
        }
      }
      expect(await redis.keys("home:*")).toEqual([]);
    });
  });

  describe("authentication", () => {
    it("answers 401 unauthorized without a token, on every path", async () => {
      for (const path of ["/v1/promotions", "/promotions", "/v1/news", "/news"])
        await expectError(await fn.request(path), 401, "unauthorized", path);
    });
  });
});

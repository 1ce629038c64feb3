// The home screen's promotions and news in PostgreSQL. Each region shard holds its own region's content (a Thai
// promotion is kept with the Thai trips), and a read merges every shard's, from the shard's read replica when one is
// configured: content is edited rarely and tolerates lag. A read needs every shard: half the content cached for the
// whole TTL would hide a region's promotions for minutes, so a shard that is down fails the read instead (and the
// cache, or a retry, answers).
import { connectPostgres, onPostgres, postgresDeadlineMs, postgresHandle, type Sql } from "../clients/postgres";
import type { DependencyHandle } from "../clients/dependency";
import type { Config } from "../config";
import { counter } from "../metrics";
import { REGIONS, perRegion, type Region } from "../regions";

export interface Promotion {
  id: string;
  region: Region;
  title: string;
  body: string;
  imageUrl?: string;
  validFrom: string;
  validUntil: string;
}

export interface NewsItem {
  id: string;
  region: Region;
  title: string;
  summary: string;
  imageUrl?: string;
  publishedAt: string;
}

/** Promotions running at once in one shard, at most: a home screen shows a handful, and one answer stays small. */
export const MAX_PROMOTIONS = 100;

const reads = counter("uitgo_home_content_reads_total", "Reads of home-screen content from PostgreSQL (every shard), by content", [
  "content",
]);

interface PromotionRow {
  id: string;
  title: string;
  body: string;
  image_url: string | null;
  valid_from: Date;
  valid_until: Date;
}

interface NewsRow {
  id: string;
  title: string;
  summary: string;
  image_url: string | null;
  published_at: Date;
}

/**
 * Connections per shard: a miss is one query per shard, and the cache's lock lets one miss per key run at once, so a
 * pod rarely has more than a couple in flight; the replicas' connection budget (infra/profiles.ts) counts on 2.
 */
const POOL_SIZE = 2;

export class HomeContent {
  private constructor(
    private readonly shards: Record<Region, { name: string; sql: Sql }>,
    private readonly deadlineMs: number,
  ) {}

  static connect(config: Config): HomeContent {
    const shards = perRegion((region) => {
      const { primaryUrl, replicaUrl } = config.shards[region];
      const name = replicaUrl ? `postgres-${region}-replica` : `postgres-${region}`;
      return { name, sql: connectPostgres(replicaUrl ?? primaryUrl, config.serviceName, config.dependencyTimeoutMs, POOL_SIZE) };
    });
    return new HomeContent(shards, postgresDeadlineMs(config.dependencyTimeoutMs));
  }

  handles(): DependencyHandle[] {
    return REGIONS.map((region) => postgresHandle(this.shards[region].name, this.shards[region].sql));
  }

  /** The promotions running now, the most recently started first. */
  async promotions(): Promise<Promotion[]> {
    reads.inc({ content: "promotions" });
    const perShard = await this.everyShard((sql) =>
      sql<PromotionRow[]>`
        select id, title, body, image_url, valid_from, valid_until from promotions
        where valid_from <= now() and valid_until > now()
        order by valid_from desc, id limit ${MAX_PROMOTIONS}`.then((rows) => rows.map(toPromotion)),
    );
    return newestFirst(perShard.flat(), (p) => p.validFrom);
  }

  /** The `limit` most recently published news items. */
  async news(limit: number): Promise<NewsItem[]> {
    reads.inc({ content: "news" });
    const perShard = await this.everyShard((sql) =>
      sql<NewsRow[]>`
        select id, title, summary, image_url, published_at from news
        where published_at <= now()
        order by published_at desc, id limit ${limit}`.then((rows) => rows.map(toNewsItem)),
    );
    return newestFirst(perShard.flat(), (n) => n.publishedAt).slice(0, limit);
  }

  private everyShard<T>(read: (sql: Sql) => Promise<Omit<T, "region">[]>): Promise<(T & { region: Region })[][]> {
    return Promise.all(
      REGIONS.map(async (region) => {
        const rows = await onPostgres(() => read(this.shards[region].sql), this.deadlineMs);
        return rows.map((row) => ({ region, ...row }) as T & { region: Region });
      }),
    );
  }
}

function toPromotion(row: PromotionRow): Omit<Promotion, "region"> {
  return {
    id: row.id,
    title: row.title,
    body: row.body,
    ...(row.image_url !== null && { imageUrl: row.image_url }),
    validFrom: row.valid_from.toISOString(),
    validUntil: row.valid_until.toISOString(),
  };
}

function toNewsItem(row: NewsRow): Omit<NewsItem, "region"> {
  return {
    id: row.id,
    title: row.title,
    summary: row.summary,
    ...(row.image_url !== null && { imageUrl: row.image_url }),
    publishedAt: row.published_at.toISOString(),
  };
}

/** ISO 8601 timestamps in UTC sort as text; ties by region and id, so every read orders alike. */
function newestFirst<T extends { id: string; region: Region }>(items: T[], at: (item: T) => string): T[] {
  return items.sort((a, b) => at(b).localeCompare(at(a)) || a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
}

// What the home screen shows, read through the cache: the promotions running now and the latest news. The keys are
// global (the content of every shard, merged): home:promotions, and home:news:<limit> for each limit asked for.
import type { HomeContent, NewsItem, Promotion } from "./home-content";
import type { ReadThroughCache } from "./read-through-cache";

export const PROMOTIONS_KEY = "home:promotions";

export function newsKey(limit: number): string {
  return `home:news:${limit}`;
}

export class HomeFeed {
  constructor(
    private readonly content: HomeContent,
    private readonly cache: ReadThroughCache,
  ) {}

  /** A promotion that ends while it is cached is no longer shown; one that starts meanwhile shows at the next read. */
  async promotions(now = Date.now()): Promise<Promotion[]> {
    const promotions = await this.cache.get(PROMOTIONS_KEY, () => this.content.promotions());
    return promotions.filter((promotion) => Date.parse(promotion.validUntil) > now);
  }

  news(limit: number): Promise<NewsItem[]> {
    return this.cache.get(newsKey(limit), () => this.content.news(limit));
  }
}

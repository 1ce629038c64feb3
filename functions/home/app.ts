import { Hono } from "hono";
import type { HomeFeed } from "../../shared/home/home-feed";
import { requireRole, type AuthEnv } from "../../shared/http/auth";
import { integer, optional, parseQuery } from "../../shared/validation";

const NEWS_QUERY = { limit: optional(integer(1, 50)) };
const DEFAULT_NEWS_LIMIT = 10;

/** Where the routes are mounted: the API's /v1, and the root, where the UIT-Go clients ask for /promotions and /news. */
const BASE_PATHS = ["/v1", "/"] as const;

export interface HomeDeps {
  feed: HomeFeed;
  jwtSecret: string;
}

export function homeApp({ feed, jwtSecret }: HomeDeps) {
  const signedIn = requireRole(jwtSecret, "rider", "driver");
  const content = new Hono<AuthEnv>()
    .get("/promotions", signedIn, async (c) => c.json({ items: await feed.promotions() }))
    .get("/news", signedIn, async (c) => {
      const { limit = DEFAULT_NEWS_LIMIT } = parseQuery(NEWS_QUERY, c.req.query());
      return c.json({ items: await feed.news(limit) });
    });
  const app = new Hono<AuthEnv>();
  for (const base of BASE_PATHS) app.route(base, content);
  return app;
}

import type postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REGIONS, perRegion } from "../shared/regions";
import { shardSql } from "../harness/state";
import { seedDemoHomeContent } from "./demo-home-content";

let shards: Record<(typeof REGIONS)[number], postgres.Sql>;

beforeAll(() => {
  shards = perRegion((region) => shardSql(region));
});

afterAll(() => Promise.all(REGIONS.map((region) => shards[region].end())));

describe("the demo home content", () => {
  it("is seeded once per shard: seeding again adds nothing and leaves an edited row as it is", async () => {
    const contents = () =>
      Promise.all(
        REGIONS.map(
          (region) =>
            shards[region]`select id, title, valid_until from promotions union all select id, title, published_at from news order by id`,
        ),
      );
    for (const region of REGIONS) {
      await shards[region]`truncate promotions, news`;
      await seedDemoHomeContent(shards[region], region);
    }
    await shards.vn`update promotions set title = 'edited' where id = 'vn-first-ride'`;
    const seeded = await contents();

    for (const region of REGIONS) await seedDemoHomeContent(shards[region], region, Date.now() + 3_600_000);

    expect(await contents()).toEqual(seeded);
    expect(seeded.map((rows) => rows.length)).toEqual([4, 2]);
    expect(seeded[0]!.map((row) => row.id).every((id) => String(id).startsWith("vn-"))).toBe(true);
    expect(seeded[1]!.map((row) => row.id).every((id) => String(id).startsWith("th-"))).toBe(true);
  });
});

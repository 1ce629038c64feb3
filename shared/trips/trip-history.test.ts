// The history query's plans on a shard holding a large history: each page an index scan in page order, never a sort of
// a party's whole history nor a scan of the table, as PostgreSQL plans it on the first runs of a statement (custom
// plans, with the values) and afterwards (a generic plan, which postgres.js's prepared statements may switch to).
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../config";
import type { Principal } from "../principal";
import { historyQuery, type HistoryPosition } from "./trip-history";

const TRIPS = 200_000;
// Riders with 50 trips each, drivers with 400, and one rider with 2,000: more trips than the page asks for either side of
// the cursor, the case in which a plan that sorts would cost more the longer the history grows. (When PostgreSQL
// expects fewer rows left than the page asks for, it may rather fetch them by a bitmap of the same index and sort
// them, which is at most a page of rows: docs/runbook.md, "Trip history".)
const RIDERS = 4_000;
const DRIVERS = 500;

const sql = postgres(loadConfig().shards.vn.primaryUrl, { max: 1, fetch_types: false, onnotice: () => {} });

beforeAll(async () => {
  await sql`truncate trips`;
  await sql`
    insert into trips (id, rider_id, driver_id, service_id, origin_text, dest_text, origin_lat, origin_lng, dest_lat, dest_lng,
                       status, created_at, updated_at)
    select 'vn_' || lpad(i::text, 12, '0'),
           case when i % 100 = 0 then 'rider-frequent' else 'rider-' || (i % ${RIDERS}) end,
           'driver-' || (i % ${DRIVERS}),
           'car', 'Ben Thanh Market', 'Tan Son Nhat Airport', 10.7769, 106.7009, 10.8185, 106.6588, 'completed',
           -- A few trips per second, some at the same instant, as a batched insert creates them.
           timestamptz '2025-01-01' + (i / 3) * interval '397 milliseconds', timestamptz '2025-01-01'
    from generate_series(1, ${TRIPS}) as i`;
  await sql`analyze trips`;
}, 120_000);

afterAll(async () => {
  await sql`truncate trips`;
  await sql.end();
});

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Index Cond"?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

async function customPlan(party: Principal, limit: number, before?: HistoryPosition): Promise<PlanNode> {
  const [row] = await sql<{ "QUERY PLAN": [{ Plan: PlanNode }] }[]>`explain (format json) ${historyQuery(sql, party, limit, before)}`;
  return row!["QUERY PLAN"][0].Plan;
}

async function genericPlan(party: Principal, limit: number, before?: HistoryPosition): Promise<PlanNode> {
  const query = historyQuery(sql, party, limit, before);
  const { string } = await query.describe();
  const values = [party.id, ...(before ? [before.createdAt, before.id] : []), limit];
  const literal = (value: string | number) => `'${String(value).replace(/'/g, "''")}'`;
  await sql.unsafe(`prepare history as ${string}`);
  try {
    await sql`set plan_cache_mode = force_generic_plan`;
    const [row] = await sql.unsafe<{ "QUERY PLAN": [{ Plan: PlanNode }] }[]>(
      `explain (format json) execute history(${values.map(literal).join(", ")})`,
    );
    return row!["QUERY PLAN"][0].Plan;
  } finally {
    await sql`reset plan_cache_mode`;
    await sql`deallocate history`;
  }
}

/** An index scan of `index`, with the cursor's bound in its condition when there is one; no sort, no other scan. */
function expectIndexOrderedPage(plan: PlanNode, index: string, withCursor: boolean, label: string): void {
  const all = nodes(plan);
  expect(
    all.map((node) => node["Node Type"]),
    label,
  ).toEqual(["Limit", "Index Scan"]);
  const scan = all[1]!;
  expect(scan["Index Name"], label).toBe(index);
  // In the index condition, the cursor starts the scan where the last page ended instead of filtering the rows before it.
  if (withCursor) expect(scan["Index Cond"], label).toMatch(/ROW\(created_at, id\) < ROW\(/);
}

describe("the trip history query", () => {
  const middle = (n: number): HistoryPosition => ({
    createdAt: new Date(Date.parse("2025-01-01T00:00:00Z") + Math.floor(n / 3) * 397).toISOString().replace("Z", "000Z"),
    id: `vn_${String(n).padStart(12, "0")}`,
  });
  const cases: [string, Principal, number, string][] = [
    ["a rider", { role: "rider", id: "rider-42" }, 21, "trips_rider_history"],
    ["a frequent rider, a full page", { role: "rider", id: "rider-frequent" }, 101, "trips_rider_history"],
    ["a driver", { role: "driver", id: "driver-42" }, 21, "trips_driver_history"],
    ["a driver, a full page", { role: "driver", id: "driver-42" }, 101, "trips_driver_history"],
  ];

  it.each(cases)(
    "reads %s's page in index order, first page and later ones, custom and generic plans",
    async (label, party, limit, index) => {
      for (const before of [undefined, middle(TRIPS / 2)]) {
        const which = `${label}, ${before ? "after a cursor" : "first page"}`;
        expectIndexOrderedPage(await customPlan(party, limit, before), index, before !== undefined, `${which}, custom plan`);
        expectIndexOrderedPage(await genericPlan(party, limit, before), index, before !== undefined, `${which}, generic plan`);
      }
    },
  );

  it("answers the page the plan promises: the newest trips after the cursor", async () => {
    const rows = await historyQuery<{ rider_id: string }>(sql, { role: "rider", id: "rider-frequent" }, 3, middle(TRIPS / 2));
    expect(rows.map((row) => row.id)).toEqual(["vn_000000099900", "vn_000000099800", "vn_000000099700"]);
  });
});

// A rider's or a driver's trips, newest first, across every shard: keyset pages by (created_at, id), each shard read in
// the order of its own index, the shards' pages merged, and an opaque cursor that says where the last page ended.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Sql } from "../clients/postgres";
import { InvalidInput } from "../errors";
import type { Principal } from "../principal";
import { regionOfTripId } from "./trip-id";
import type { Trip } from "./trip";

/**
 * Where a page ended: its last trip's creation time as PostgreSQL holds it, to the microsecond (a JavaScript Date,
 * to the millisecond, would make the next page repeat or skip trips created within the same millisecond), and its id.
 */
export interface HistoryPosition {
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`: fixed width, so comparing the text compares the times. */
  createdAt: string;
  id: string;
}

export interface HistoryPage {
  trips: Trip[];
  /** Where the next page starts; absent on the last page. */
  next?: HistoryPosition;
}

/** A row of the history query: the trip's columns and its position at full precision. */
export interface PositionedRow {
  id: string;
  position_at: string;
}

// A rider's trips are those they booked, a driver's those assigned to them. Each has its own index on (party,
// created_at DESC, id DESC) (db/schema.sql), which hands the rows over in page order: no sort, however long the history.
const PARTY_COLUMN = { rider: "rider_id", driver: "driver_id" } as const;

/** At most `limit` of the party's trips in one shard, newest first, strictly after `before` in that order. */
export function historyQuery<Row extends object>(sql: Sql, party: Principal, limit: number, before?: HistoryPosition) {
  // Passed as text and cast by the server: a parameter PostgreSQL types timestamptz goes through postgres.js's Date
  // serializer, which would cut it to the millisecond.
  const after = before ? sql`and (created_at, id) < (${before.createdAt}::text::timestamptz, ${before.id})` : sql``;
  return sql<(Row & PositionedRow)[]>`
    select *, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as position_at
    from trips
    where ${sql(PARTY_COLUMN[party.role])} = ${party.id} ${after}
    order by created_at desc, id desc
    limit ${limit}`;
}

/**
 * The first `limit` rows of the shards' pages merged newest first, and whether any row is left beyond them. Each
 * page keeps the order its shard gave it; only the heads of different shards are compared, whose ids differ in
 * their region prefix, so the merge agrees with the keyset condition whatever the databases' collation.
 */
export function newestFirst<Row extends PositionedRow>(pages: Row[][], limit: number): { rows: Row[]; more: boolean } {
  const heads = pages.map(() => 0);
  const rows: Row[] = [];
  for (;;) {
    let best = -1;
    for (let shard = 0; shard < pages.length; shard++) {
      const row = pages[shard]![heads[shard]!];
      if (row && (best === -1 || isNewer(row, pages[best]![heads[best]!]!))) best = shard;
    }
    if (best === -1) return { rows, more: false };
    if (rows.length === limit) return { rows, more: true };
    rows.push(pages[best]![heads[best]!++]!);
  }
}

function isNewer(a: PositionedRow, b: PositionedRow): boolean {
  return a.position_at === b.position_at ? a.id > b.id : a.position_at > b.position_at;
}

const POSITION = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z) (\S+)$/;
const MAC_BYTES = 16;

/**
 * Cursors are the position and a MAC of it for the caller they were given to: a client can only hand back one it got,
 * unchanged. Anything else, however well formed, is refused before it reaches a query.
 */
export class HistoryCursors {
  private readonly key: Buffer;

  /** `secret` is the token secret; the cursor key is derived from it, so the two are never used for the same thing. */
  constructor(secret: string) {
    this.key = createHmac("sha256", secret).update("uitgo trip history cursors").digest();
  }

  encode(party: Principal, position: HistoryPosition): string {
    return this.cursorOf(party, `${position.createdAt} ${position.id}`);
  }

  /** The position a cursor given to `party` stands for; InvalidInput for anything else. */
  decode(party: Principal, cursor: string): HistoryPosition {
    const payload = Buffer.from(cursor.split(".")[0]!, "base64url").toString();
    const match = POSITION.exec(payload);
    // The cursor it would have been given, compared whole: base64's spare bits and Node's leniency let through no variant.
    const expected = match && regionOfTripId(match[2]!) ? Buffer.from(this.cursorOf(party, payload)) : undefined;
    const given = Buffer.from(cursor);
    if (!expected || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidInput("invalid_request", "Invalid request: cursor is not one this list gave", [
        { field: "cursor", issue: "is not one this list gave" },
      ]);
    }
    return { createdAt: match![1]!, id: match![2]! };
  }

  private cursorOf(party: Principal, payload: string): string {
    const mac = createHmac("sha256", this.key)
      .update(JSON.stringify([party.role, party.id, payload]))
      .digest()
      .subarray(0, MAC_BYTES);
    return `${Buffer.from(payload).toString("base64url")}.${mac.toString("base64url")}`;
  }
}

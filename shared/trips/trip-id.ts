// Trip ids name their shard: "vn_<uuidv7>". Reads route by prefix, with no lookup.
import { randomFillSync } from "node:crypto";
import { isRegion, type Region } from "../regions";

const TRIP_ID = /^([a-z]{2})_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function newTripId(region: Region, now = Date.now()): string {
  return `${region}_${uuidv7(now)}`;
}

/** The region a trip id belongs to, or undefined when the text is not a trip id. */
export function regionOfTripId(id: string): Region | undefined {
  const match = TRIP_ID.exec(id);
  return match && isRegion(match[1]!) ? match[1] : undefined;
}

// Random bits come from a pool refilled 4 KiB at a time: one randomBytes() call per id cost more than the rest of it.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

// RFC 9562 UUIDv7: 48-bit millisecond timestamp, then random bits; time-ordered ids keep the primary key index append-mostly.
function uuidv7(now: number): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + 16));
  poolOffset += 16;
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

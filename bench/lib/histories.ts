// The trip histories list-trips pages through: riders with a year of trips in both shards, some driven by the city's
// drivers, written straight into the shard databases (booking them through create-trip would measure create-trip).
import postgres from "postgres";
import { BANGKOK, HCMC, tripRequest } from "../../harness/places";
import { REGIONS } from "../../shared/regions";
import { newTripId } from "../../shared/trips/trip-id";
import { driverId } from "./city";

export const HISTORY_RIDERS = 1_000;
/** Per rider and shard: more than a page (20) in each, so every first page merges both shards. */
const TRIPS_PER_SHARD = 25;
const YEAR_MS = 365 * 24 * 3_600_000;
const BATCH = 2_000;

export function historyRider(index: number): string {
  return `bench-history-rider-${index}`;
}

/** Every history rider's trips into the shards whose URLs are given, oldest to newest within the last year. */
export async function seedHistories(shardUrls: Record<(typeof REGIONS)[number], string>, now = Date.now()): Promise<number> {
  let written = 0;
  for (const region of REGIONS) {
    const sql = postgres(shardUrls[region], { max: 1, onnotice: () => {} });
    try {
      const pickup = region === "vn" ? HCMC : BANGKOK;
      const rows = Array.from({ length: HISTORY_RIDERS * TRIPS_PER_SHARD }, (_, i) => {
        const createdAt = new Date(now - Math.random() * YEAR_MS);
        const request = tripRequest(pickup);
        return {
          id: newTripId(region, createdAt.getTime()),
          rider_id: historyRider(i % HISTORY_RIDERS),
          driver_id: driverId(i % 5_000),
          service_id: request.serviceId,
          origin_text: request.originText,
          dest_text: request.destText,
          origin_lat: request.originLat,
          origin_lng: request.originLng,
          dest_lat: request.destLat,
          dest_lng: request.destLng,
          status: "completed",
          created_at: createdAt,
          updated_at: createdAt,
        };
      });
      for (let i = 0; i < rows.length; i += BATCH) await sql`insert into trips ${sql(rows.slice(i, i + BATCH))}`;
      await sql`analyze trips`;
      written += rows.length;
    } finally {
      await sql.end();
    }
  }
  return written;
}

// Redis time per driver claim while a burst of bookings empties the city centre, read from Redis's own
// command statistics (so the figure does not move with the rest of the machine's load).
//
//   node --import tsx bench/claim-cost.ts [--claims 10000] [--redis redis://127.0.0.1:6379/13]
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { DriverIndex } from "../shared/drivers/driver-index";
import { seededRandom } from "../harness/places";
import { pickup, seedCity } from "./lib/city";

const { values: args } = parseArgs({
  options: { claims: { type: "string", default: "10000" }, redis: { type: "string", default: "redis://127.0.0.1:6379/13" } },
});
const CLAIMS = Number(args.claims);
const IN_FLIGHT = 32;

const redis = new Redis(args.redis!);
const index = new DriverIndex(redis, 3_600_000);
await redis.flushdb();
const now = Date.now();
await seedCity(index, now);

/** Microseconds Redis has spent in scripts so far (EVALSHA, and EVAL for a script it did not have yet). */
async function scriptMicros(): Promise<number> {
  const stats = await redis.info("commandstats");
  return [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

const random = seededRandom(7);
const pickups = Array.from({ length: CLAIMS }, () => pickup(random));
const before = await scriptMicros();
const started = performance.now();
let next = 0;
let claimed = 0;
await Promise.all(
  Array.from({ length: IN_FLIGHT }, async () => {
    while (next < pickups.length) {
      const i = next++;
      const driver = await index.claim("vn", { tripId: `trip-${i}`, ...pickups[i]!, radiusMeters: 5_000 }, now);
      if (driver) claimed++;
    }
  }),
);
const micros = (await scriptMicros()) - before;
console.log(
  JSON.stringify({
    claims: CLAIMS,
    claimed,
    redisMicrosPerClaim: Math.round(micros / CLAIMS),
    wallSeconds: Math.round(performance.now() - started) / 1000,
  }),
);
await redis.flushdb();
await redis.quit();

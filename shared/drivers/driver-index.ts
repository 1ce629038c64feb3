// The live driver geo-index, one set of keys per region (hash-tagged so a Redis Cluster keeps them on one slot).
//
//   drivers:{r}:geo    GEO set of available drivers
//   drivers:{r}:seen   sorted set: available driver -> recordedAt (ms); freshness and pruning
//   drivers:{r}:pos    hash: driver -> "lat,lng,recordedAt", last known position of every driver
//   drivers:{r}:busy   hash: driver -> trip the driver is matched to
//   drivers:{r}:claims hash: trip -> driver, so matching a trip twice returns the same driver
//
// Every change of availability runs as one Lua script, which is what makes assignment atomic:
// Redis runs scripts one at a time, so two trips can never claim the same driver.
//
// A driver who stops reporting leaves the geo and freshness sets (never pos, busy or claims) once silent for
// longer than the freshness window: the sweep takes the oldest from the freshness set, a batch at a time, and
// a search or claim drops any silent driver it comes across. Neither touches a driver on a trip, who is in
// neither set. So what a search costs follows the drivers who still report, not every driver who ever did.
import type { Redis } from "ioredis";
import { LuaScript, onRedis } from "../clients/redis";
import { haversineMeters, type LatLng } from "../geo";
import { GroupCommit } from "../group-commit";
import { counter } from "../metrics";
import { perRegion, type Region } from "../regions";
import type { LocationUpdate } from "./driver";

export interface NearbyDriver {
  id: string;
  location: { lat: number; lng: number; recordedAt: string; distanceMeters: number };
}

export interface SearchQuery extends LatLng {
  radiusMeters: number;
  limit: number;
}

export interface SearchReport {
  drivers: NearbyDriver[];
  /** Geo-set entries looked at. */
  examined: number;
  /** Silent drivers among them, taken out of the geo set. */
  dropped: number;
}

export interface ClaimQuery extends LatLng {
  tripId: string;
  radiusMeters: number;
  excludedDriverIds?: readonly string[];
}

// The first radius tried; it doubles until enough drivers are found. In a dense city the nearest
// drivers are a few hundred metres away, and a small first radius keeps Redis from sorting thousands.
const START_RADIUS_M = 150;

/**
 * Most geo-set entries one search or claim looks at, whatever the set holds: four times the largest page a
 * search may ask for (50). Past it the answer is what was found; the silent drivers among those looked at
 * are gone by then, so the next search starts past them.
 */
export const MAX_CANDIDATES = 200;
const NARROW_STEP_M = 10;

// Redis measures with an Earth radius of 6,372,797.56 m, shared/geo.ts with the mean 6,371,008.8 m,
// and keeps positions as 52-bit geohashes (within about 0.6 m). Redis is asked for a little more
// than the radius, and the answer is cut to the exact radius from the reported positions.
/** The first radius the Lua scripts try and the largest they may grow to, in Redis's metres. */
function searchRadii(meters: number): [start: number, max: number] {
  const max = meters * (6_372_797.560856 / 6_371_008.8) + 1;
  return [Math.min(START_RADIUS_M, max), max];
}

// Every GEOSEARCH asks for MAX_CANDIDATES with ANY, so Redis stops scanning once it has that many: a plain COUNT
// would still read every entry within the radius to sort them, thousands of them in a city of silent drivers.
// An answer shorter than that holds every entry within the radius, nearest first, and each one's verdict is kept
// for the wider radius that returns it again. A full answer means the radius holds too many to be sure of the
// nearest: it is narrowed, halfway back towards the last complete radius, until an answer comes back complete
// (or the step is under NARROW_STEP_M, where any of them is as near as another). So a search looks up at most
// MAX_CANDIDATES entries, and each GEOSEARCH reads a bounded number.
// Returns the picked drivers, how many entries were looked up, and how many silent ones were dropped.
const NEAREST = `
local function nearest(geo, seen, lng, lat, radius, maxRadius, freshAfter, limit, accept)
  local budget = ${MAX_CANDIDATES}
  -- The largest radius whose answer was complete, and the smallest whose answer filled: the nearest lie between.
  local complete, full = 0, math.huge
  local verdicts, examined, silent = {}, 0, {}
  local picked, inPicked = {}, {}
  while true do
    local found = redis.call('GEOSEARCH', geo, 'FROMLONLAT', lng, lat, 'BYRADIUS', radius, 'm', 'COUNT', budget, 'ANY', 'ASC')
    local filled = #found >= budget
    if filled then full = radius end
    if filled and radius - complete > ${NARROW_STEP_M} then
      radius = (complete + radius) / 2
    else
      -- A complete answer holds every entry the last one did, and is picked from afresh, nearest first. A full one
      -- may lack some within the last complete radius: what was picked there stays, and is added to.
      if not filled then picked, inPicked = {}, {} end
      for _, id in ipairs(found) do
        local ok = verdicts[id]
        if ok == nil then
          -- Only a full answer can bring more new entries than the budget has left.
          if examined >= budget then break end
          examined = examined + 1
          local at = tonumber(redis.call('ZSCORE', seen, id))
          if at and at >= freshAfter then
            ok = accept(id)
          else
            ok = false
            silent[#silent + 1] = id
          end
          verdicts[id] = ok
        end
        if ok and not inPicked[id] then
          picked[#picked + 1] = id
          inPicked[id] = true
          if #picked == limit then break end
        end
      end
      if #picked == limit or filled or radius >= maxRadius then break end
      complete = radius
      radius = math.min(radius * 2, maxRadius, full)
    end
  end
  if #silent > 0 then
    redis.call('ZREM', geo, unpack(silent))
    redis.call('ZREM', seen, unpack(silent))
  end
  return picked, examined, #silent
end
`;

// ARGV[1]: before when a report is stale; then five values per update (id, lat, lng, recordedAt, status). The updates
// handled in one turn of the event loop come as one script: one round trip and one prune for all of them.
// Returns 1 per update that moved the index, 0 per update older than the driver's last.
const UPDATE = new LuaScript(
  "update locations",
  `
local geo, seen, pos, busy = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local moved = {}
for i = 2, #ARGV, 5 do
  local id, lat, lng, at, status = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4]
  local previous = redis.call('HGET', pos, id)
  if previous and tonumber(string.match(previous, ',([^,]+)$')) > at then
    moved[#moved + 1] = 0
  else
    redis.call('HSET', pos, id, lat .. ',' .. lng .. ',' .. at)
    if status == 'available' and redis.call('HEXISTS', busy, id) == 0 then
      redis.call('GEOADD', geo, lng, lat, id)
      redis.call('ZADD', seen, at, id)
    else
      redis.call('ZREM', geo, id)
      redis.call('ZREM', seen, id)
    end
    moved[#moved + 1] = 1
  end
end
local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. ARGV[1], 'LIMIT', 0, 32)
if #stale > 0 then
  redis.call('ZREM', geo, unpack(stale))
  redis.call('ZREM', seen, unpack(stale))
end
return moved
`,
);

// The drivers silent longest first, at most ARGV[2] of them: one batch keeps Redis's other clients waiting
// well under a millisecond.
const SWEEP = new LuaScript(
  "sweep",
  `
local geo, seen = KEYS[1], KEYS[2]
local silent = redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #silent == 0 then return 0 end
redis.call('ZREM', geo, unpack(silent))
redis.call('ZREM', seen, unpack(silent))
return #silent
`,
);

const SEARCH = new LuaScript(
  "search",
  `${NEAREST}
local geo, seen, pos = KEYS[1], KEYS[2], KEYS[3]
local ids, examined, dropped = nearest(geo, seen, ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), function() return true end)
local out = {examined, dropped}
if #ids == 0 then return out end
local positions = redis.call('HMGET', pos, unpack(ids))
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = positions[i]
end
return out
`,
);

const CLAIM = new LuaScript(
  "claim",
  `${NEAREST}
local geo, seen, busy, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local trip = ARGV[1]
local existing = redis.call('HGET', claims, trip)
if existing then return existing end
local excluded = {}
for i = 7, #ARGV do excluded[ARGV[i]] = true end
local ids = nearest(geo, seen, ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), 1,
  function(id) return not excluded[id] and redis.call('HEXISTS', busy, id) == 0 end)
local driver = ids[1]
if not driver then return false end
redis.call('HSET', busy, driver, trip)
redis.call('HSET', claims, trip, driver)
redis.call('ZREM', geo, driver)
redis.call('ZREM', seen, driver)
return driver
`,
);

const RELEASE = new LuaScript(
  "release",
  `
local geo, seen, pos, busy, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local trip, driver, available = ARGV[1], ARGV[2], ARGV[3] == '1'
if driver == '' then
  driver = redis.call('HGET', claims, trip)
  if not driver then return 0 end
end
if redis.call('HGET', claims, trip) == driver then redis.call('HDEL', claims, trip) end
if redis.call('HGET', busy, driver) ~= trip then return 0 end
redis.call('HDEL', busy, driver)
local last = redis.call('HGET', pos, driver)
if available and last then
  local lat, lng, at = string.match(last, '([^,]+),([^,]+),([^,]+)')
  redis.call('GEOADD', geo, lng, lat, driver)
  redis.call('ZADD', seen, at, driver)
end
return 1
`,
);

const silentDropped = counter(
  "uitgo_silent_drivers_dropped_total",
  "Drivers taken out of the geo-index for being silent past the freshness window, by the sweep or by a search or claim",
  ["by"],
);

function keys(region: Region) {
  const tag = `drivers:{${region}}`;
  return { geo: `${tag}:geo`, seen: `${tag}:seen`, pos: `${tag}:pos`, busy: `${tag}:busy`, claims: `${tag}:claims` };
}

interface TimedUpdate {
  update: LocationUpdate;
  now: number;
}

/** Updates of one region in one script at most: a script keeps Redis's other clients waiting while it runs. */
const MAX_UPDATES_PER_SCRIPT = 64;

export class DriverIndex {
  private readonly updates: Record<Region, GroupCommit<TimedUpdate, boolean>>;

  constructor(
    private readonly redis: Redis,
    /** A driver whose last update is older than this is not available. */
    private readonly freshMs: number,
  ) {
    this.updates = perRegion(
      (region) =>
        new GroupCommit<TimedUpdate, boolean>((batch) => this.updateBatch(region, batch), {
          maxBatch: MAX_UPDATES_PER_SCRIPT,
          maxWaitMs: 0,
        }),
    );
  }

  /**
   * Records a position; only an available driver who is not on a trip enters the geo set. Older updates than the last
   * are ignored (false). The updates of a region submitted in the same turn of the event loop go to Redis together.
   */
  update(region: Region, update: LocationUpdate, now = Date.now()): Promise<boolean> {
    return this.updates[region].submit({ update, now });
  }

  private async updateBatch(region: Region, batch: TimedUpdate[]): Promise<boolean[]> {
    const k = keys(region);
    // Stale for every update of the batch, so none prunes a driver another one still counts as fresh.
    const args: (string | number)[] = [Math.min(...batch.map((item) => item.now)) - this.freshMs];
    for (const { update } of batch) args.push(update.driverId, update.lat, update.lng, update.recordedAt, update.status);
    const moved = (await onRedis(() => UPDATE.run(this.redis, [k.geo, k.seen, k.pos, k.busy], args))) as number[];
    return moved.map((flag) => flag === 1);
  }

  /** The nearest available drivers within the radius, nearest first, distances from their reported positions. */
  async search(region: Region, query: SearchQuery, now = Date.now()): Promise<NearbyDriver[]> {
    return (await this.searchReport(region, query, now)).drivers;
  }

  /** A search, with how many geo-set entries it looked at (at most MAX_CANDIDATES) and how many silent ones it dropped. */
  async searchReport(region: Region, query: SearchQuery, now = Date.now()): Promise<SearchReport> {
    const k = keys(region);
    const args = [query.lng, query.lat, ...searchRadii(query.radiusMeters), now - this.freshMs, query.limit];
    const [examined, dropped, ...flat] = (await onRedis(() => SEARCH.run(this.redis, [k.geo, k.seen, k.pos], args))) as [
      number,
      number,
      ...(string | null)[],
    ];
    if (dropped > 0) silentDropped.inc({ by: "search" }, dropped);

    const drivers: NearbyDriver[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const position = flat[i + 1];
      if (!position) continue;
      const [lat, lng, recordedAt] = position.split(",").map(Number) as [number, number, number];
      const distance = haversineMeters(query, { lat, lng });
      if (distance > query.radiusMeters) continue;
      drivers.push({
        id: flat[i]!,
        location: { lat, lng, recordedAt: new Date(recordedAt).toISOString(), distanceMeters: Math.round(distance * 10) / 10 },
      });
    }
    // Redis orders by its geohash-rounded positions; the answer is ordered by the reported ones.
    drivers.sort((a, b) => a.location.distanceMeters - b.location.distanceMeters);
    return { drivers, examined, dropped };
  }

  /**
   * Takes up to `batch` of the drivers silent longest, who have been silent past the freshness window, out of the
   * geo set; the number taken. Safe beside claims: a driver on a trip is not in the freshness set.
   */
  async sweep(region: Region, batch: number, now = Date.now()): Promise<number> {
    const k = keys(region);
    const taken = Number(await onRedis(() => SWEEP.run(this.redis, [k.geo, k.seen], [now - this.freshMs, batch])));
    if (taken > 0) silentDropped.inc({ by: "sweep" }, taken);
    return taken;
  }

  /**
   * Atomically takes the nearest available driver for a trip, or returns the driver it already took
   * (so a redelivered request changes nothing). Undefined when nobody is within the radius.
   */
  async claim(region: Region, query: ClaimQuery, now = Date.now()): Promise<string | undefined> {
    const k = keys(region);
    const args = [
      query.tripId,
      query.lng,
      query.lat,
      ...searchRadii(query.radiusMeters),
      now - this.freshMs,
      ...(query.excludedDriverIds ?? []),
    ];
    const driver = await onRedis(() => CLAIM.run(this.redis, [k.geo, k.seen, k.busy, k.claims], args));
    return typeof driver === "string" ? driver : undefined;
  }

  /** Gives back whichever driver the trip has claimed, if any, into the geo set at their last position. */
  async releaseClaimOf(region: Region, tripId: string): Promise<void> {
    const k = keys(region);
    await onRedis(() => RELEASE.run(this.redis, [k.geo, k.seen, k.pos, k.busy, k.claims], [tripId, "", "1"]));
  }

  /** Undoes a claim; with `available`, the driver goes back into the geo set at its last position. */
  async release(region: Region, tripId: string, driverId: string, { available }: { available: boolean }): Promise<void> {
    const k = keys(region);
    await onRedis(() => RELEASE.run(this.redis, [k.geo, k.seen, k.pos, k.busy, k.claims], [tripId, driverId, available ? "1" : "0"]));
  }
}

// Demo drivers for the local run: in every city, drivers cruising within ~3 km of the centre, each reporting
// its position through the local entry point the way the driver app does. A driver is only available while
// its last report is at most 30 s old, so they keep reporting until stopped.
import { offsetMeters } from "../shared/geo";
import { signToken } from "../shared/tokens";
import { CITIES, type City } from "../shared/regions";

export interface DemoDriverOptions {
  gatewayUrl: string;
  jwtSecret: string;
  /** Drivers per city; 40 unless told otherwise. */
  perCity?: number;
  /** Time between two reports of one driver; 10 s unless told otherwise. */
  intervalMs?: number;
  /** Reports in flight at once; 16 unless told otherwise. */
  concurrency?: number;
  /** Told when reports start failing and when they work again (never once per report). */
  log?: (line: string) => void;
}

export interface DemoDrivers {
  stop(): void;
  count: number;
}

interface Driver {
  id: string;
  city: City;
  lat: number;
  lng: number;
  heading: number;
  token: string;
  tokenRenewAt: number;
  nextAt: number;
}

const SPREAD_METERS = 3_000;
const METERS_PER_DEGREE = 111_320;
const TOKEN_TTL_SECONDS = 24 * 3600;
// Short codes for driver ids (IATA codes of each city's airport).
const CITY_CODES: Record<string, string> = {
  "Ho Chi Minh City": "hcm",
  Hanoi: "han",
  "Da Nang": "dad",
  Bangkok: "bkk",
  "Chiang Mai": "cnx",
  Phuket: "hkt",
};

/** Places the drivers, reports every position once, then keeps them moving until stop(). */
export async function startDemoDrivers(options: DemoDriverOptions): Promise<DemoDrivers> {
  const perCity = options.perCity ?? 40;
  const intervalMs = options.intervalMs ?? 10_000;
  const concurrency = options.concurrency ?? 16;
  const log = options.log ?? (() => {});
  const url = `${options.gatewayUrl.replace(/\/$/, "")}/v1/drivers/me/location`;
  const abort = new AbortController();

  const drivers: Driver[] = [];
  for (const city of CITIES) {
    const code = CITY_CODES[city.name] ?? initials(city.name);
    for (let i = 1; i <= perCity; i++) {
      const distance = SPREAD_METERS * Math.sqrt(Math.random());
      const bearing = Math.random() * 2 * Math.PI;
      const { lat, lng } = offsetMeters(city.center, distance * Math.cos(bearing), distance * Math.sin(bearing));
      drivers.push({
        id: `demo-${code}-${String(i).padStart(3, "0")}`,
        city,
        lat,
        lng,
        heading: Math.random() * 360,
        token: "",
        tokenRenewAt: 0,
        nextAt: 0,
      });
    }
  }

  let inFlight = 0;
  let failing = false;
  let stopped = false;

  async function report(driver: Driver): Promise<void> {
    const now = Date.now();
    if (now >= driver.tokenRenewAt) {
      driver.token = signToken(options.jwtSecret, { id: driver.id, role: "driver" }, TOKEN_TTL_SECONDS, now);
      driver.tokenRenewAt = now + (TOKEN_TTL_SECONDS / 2) * 1000;
    }
    inFlight++;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${driver.token}`, "content-type": "application/json" },
        body: JSON.stringify({ lat: driver.lat, lng: driver.lng, heading: Math.round(driver.heading), speed: 8, status: "available" }),
        signal: abort.signal,
      });
      const text = await res.text();
      if (res.status !== 202) throw new Error(`HTTP ${res.status} ${text.slice(0, 200)}`);
      if (failing) {
        failing = false;
        log("demo drivers: location updates work again");
      }
    } catch (err) {
      if (!stopped && !failing) {
        failing = true;
        log(`demo drivers: a location update failed (${err instanceof Error ? err.message : String(err)}); retrying quietly`);
      }
    } finally {
      inFlight--;
    }
  }

  // Everyone on the map first, so a search right after start-up finds them.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, drivers.length) }, async () => {
      while (next < drivers.length && !stopped) await report(drivers[next++]!);
    }),
  );

  // Then each driver reports once per interval, the reports spread evenly over it.
  const start = Date.now();
  drivers.forEach((driver, i) => (driver.nextAt = start + Math.round(((i + 0.5) * intervalMs) / drivers.length)));
  let cursor = 0;
  const tickMs = Math.max(20, Math.min(250, Math.floor(intervalMs / Math.max(1, drivers.length))));
  const timer = setInterval(() => {
    const now = Date.now();
    // Drivers are due in index order; a report that cannot go now (too many in flight) goes on the next tick.
    for (let checked = 0; checked < drivers.length && inFlight < concurrency; checked++) {
      const driver = drivers[cursor]!;
      if (driver.nextAt > now) break;
      cursor = (cursor + 1) % drivers.length;
      driver.nextAt += intervalMs;
      if (driver.nextAt < now) driver.nextAt = now + intervalMs; // fell behind: do not try to catch up in a burst
      move(driver, intervalMs);
      void report(driver);
    }
  }, tickMs);
  timer.unref();

  return {
    count: drivers.length,
    stop() {
      stopped = true;
      clearInterval(timer);
      abort.abort();
    },
  };
}

/** A small random walk at city speed, turning back towards the centre when it strays too far. */
function move(driver: Driver, intervalMs: number): void {
  driver.heading = (driver.heading + (Math.random() - 0.5) * 60 + 360) % 360;
  const fromCentreNorth = (driver.lat - driver.city.center.lat) * METERS_PER_DEGREE;
  const fromCentreEast = (driver.lng - driver.city.center.lng) * METERS_PER_DEGREE * Math.cos((driver.city.center.lat * Math.PI) / 180);
  if (Math.hypot(fromCentreNorth, fromCentreEast) > SPREAD_METERS) {
    driver.heading = ((Math.atan2(-fromCentreEast, -fromCentreNorth) * 180) / Math.PI + 360) % 360;
  }
  const meters = Math.min(150, 8 * (intervalMs / 1000)) * (0.5 + Math.random() / 2);
  const radians = (driver.heading * Math.PI) / 180;
  ({ lat: driver.lat, lng: driver.lng } = offsetMeters(driver, meters * Math.cos(radians), meters * Math.sin(radians)));
}

function initials(name: string): string {
  return name
    .split(/\s+/)
    .map((word) => word[0]?.toLowerCase() ?? "")
    .join("");
}

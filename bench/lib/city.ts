// The dense city every scenario runs in: 50,000 available drivers around Ho Chi Minh City's centre
// (normally spread, σ = 5 km: about 8,000 of them within 3 km of it), and riders' pickups near the centre.
// Seeded, so that every process of a run (and every run) sees the same drivers.
import type { DriverIndex } from "../../shared/drivers/driver-index";
import type { LatLng } from "../../shared/geo";
import { HCMC, offset, randomPointNear, seededRandom } from "../../harness/places";

export const CITY_CENTRE = HCMC;
export const DRIVER_COUNT = 50_000;
const DRIVER_SPREAD_M = 5_000;
/** Pickups are drawn uniformly within this distance of the centre. */
export const PICKUP_RADIUS_M = 3_000;

export function driverId(index: number): string {
  return `bench-driver-${index}`;
}

export function driverPositions(count = DRIVER_COUNT): LatLng[] {
  const random = seededRandom(42);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: count }, () => offset(CITY_CENTRE, gaussian() * DRIVER_SPREAD_M, gaussian() * DRIVER_SPREAD_M));
}

/**
 * A city where a share of the drivers stopped reporting (a city at night, a mobile-network blip): their last
 * report is `silentForMs` old, the others report now.
 */
export interface Silence {
  /** 0 to 1; every driver whose index falls in this share of each ten is silent. */
  share: number;
  silentForMs: number;
}

/** Every driver of the city into the geo-index, available, 5,000 at a time; reporting now unless silenced. */
export async function seedCity(index: DriverIndex, now = Date.now(), silence?: Silence): Promise<void> {
  const positions = driverPositions();
  // Positions are drawn independently, so taking the silent ones by index spreads them over the whole city.
  const silent = (i: number) => silence !== undefined && i % 10 < Math.round(silence.share * 10);
  for (let i = 0; i < positions.length; i += 5_000) {
    await Promise.all(
      positions.slice(i, i + 5_000).map((p, j) => {
        const recordedAt = silent(i + j) ? now - silence!.silentForMs : now;
        return index.update("vn", { driverId: driverId(i + j), ...p, status: "available", recordedAt }, now);
      }),
    );
  }
}

export function pickup(random = Math.random): LatLng {
  return randomPointNear(CITY_CENTRE, PICKUP_RADIUS_M, random);
}

// The dense city every scenario runs in: 50,000 available drivers around Ho Chi Minh City's centre
// (normally spread, σ = 5 km: about 8,000 of them within 3 km of it), and riders' pickups near the centre.
// Seeded, so that every process of a run (and every run) sees the same drivers.
import type { DriverIndex } from "../shared/drivers/driver-index";
import type { LatLng } from "../shared/geo";
import { HCMC, offset, randomPointNear, seededRandom } from "../tests/support/places";

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

/** Every driver of the city into the geo-index, available and reporting now, 5,000 at a time. */
export async function seedCity(index: DriverIndex, now = Date.now()): Promise<void> {
  const positions = driverPositions();
  for (let i = 0; i < positions.length; i += 5_000) {
    await Promise.all(
      positions.slice(i, i + 5_000).map((p, j) => index.update("vn", { driverId: driverId(i + j), ...p, status: "available", recordedAt: now }, now)),
    );
  }
}

export function pickup(random = Math.random): LatLng {
  return randomPointNear(CITY_CENTRE, PICKUP_RADIUS_M, random);
}

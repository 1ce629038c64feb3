// Points used across tests and benches.
import { offsetMeters, type LatLng } from "../shared/geo";

export const HCMC: LatLng = { lat: 10.7769, lng: 106.7009 };
export const BANGKOK: LatLng = { lat: 13.7563, lng: 100.5018 };
/** Open sea, inside no service area. */
export const NOWHERE: LatLng = { lat: 12.0, lng: 112.0 };

/** A point `northMeters` north and `eastMeters` east of `from` (small distances). */
export const offset = offsetMeters;

/** A uniformly random point within `radiusMeters` of `center`. */
export function randomPointNear(center: LatLng, radiusMeters: number, random = Math.random): LatLng {
  const r = radiusMeters * Math.sqrt(random());
  const theta = random() * 2 * Math.PI;
  return offset(center, r * Math.cos(theta), r * Math.sin(theta));
}

export function tripRequest(origin: LatLng = HCMC, overrides: Record<string, unknown> = {}) {
  return {
    originText: "Ben Thanh Market",
    destText: "Tan Son Nhat Airport",
    serviceId: "car",
    originLat: origin.lat,
    originLng: origin.lng,
    destLat: 10.8185,
    destLng: 106.6588,
    ...overrides,
  };
}

/** Great-circle distance in metres, written independently of shared/geo.ts: the reference the code is checked against. */
export function referenceMeters(a: LatLng, b: LatLng): number {
  const rad = (deg: number) => (deg * Math.PI) / 180;
  const s = Math.sin(rad(b.lat - a.lat) / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(rad(b.lng - a.lng) / 2) ** 2;
  return 2 * 6_371_008.8 * Math.atan2(Math.sqrt(s), Math.sqrt(1 - s));
}

/** A seeded generator (mulberry32), so that a failure on random data can be replayed. */
export function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

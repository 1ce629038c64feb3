// Service areas and the region shard each belongs to (SPEC §2).
import { haversineMeters, type LatLng } from "./geo";

export const REGIONS = ["vn", "th"] as const;
export type Region = (typeof REGIONS)[number];

export interface City {
  name: string;
  region: Region;
  center: LatLng;
  radiusMeters: number;
}

export const CITIES: readonly City[] = [
  { name: "Ho Chi Minh City", region: "vn", center: { lat: 10.7769, lng: 106.7009 }, radiusMeters: 30_000 },
  { name: "Hanoi", region: "vn", center: { lat: 21.0278, lng: 105.8342 }, radiusMeters: 25_000 },
  { name: "Da Nang", region: "vn", center: { lat: 16.0544, lng: 108.2022 }, radiusMeters: 15_000 },
  { name: "Bangkok", region: "th", center: { lat: 13.7563, lng: 100.5018 }, radiusMeters: 35_000 },
  { name: "Chiang Mai", region: "th", center: { lat: 18.7883, lng: 98.9853 }, radiusMeters: 15_000 },
  { name: "Phuket", region: "th", center: { lat: 7.8804, lng: 98.3923 }, radiusMeters: 20_000 },
];

/** The city whose service area contains the point, or undefined outside every area. */
export function cityAt(point: LatLng): City | undefined {
  return CITIES.find((city) => haversineMeters(point, city.center) <= city.radiusMeters);
}

/** One value per region, each made by `make`: a shard's pool, its batches. */
export function perRegion<T>(make: (region: Region) => T): Record<Region, T> {
  return Object.fromEntries(REGIONS.map((region) => [region, make(region)])) as Record<Region, T>;
}

export function isRegion(value: string): value is Region {
  return (REGIONS as readonly string[]).includes(value);
}

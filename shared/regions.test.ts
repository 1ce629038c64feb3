import { describe, expect, it } from "vitest";
import type { LatLng } from "./geo";
import { cityAt, isRegion } from "./regions";

// SPEC §2, copied here so that the table in regions.ts is checked against the product, not against itself.
const SERVICE_AREAS = [
  { name: "Ho Chi Minh City", region: "vn", center: { lat: 10.7769, lng: 106.7009 }, radiusKm: 30 },
  { name: "Hanoi", region: "vn", center: { lat: 21.0278, lng: 105.8342 }, radiusKm: 25 },
  { name: "Da Nang", region: "vn", center: { lat: 16.0544, lng: 108.2022 }, radiusKm: 15 },
  { name: "Bangkok", region: "th", center: { lat: 13.7563, lng: 100.5018 }, radiusKm: 35 },
  { name: "Chiang Mai", region: "th", center: { lat: 18.7883, lng: 98.9853 }, radiusKm: 15 },
  { name: "Phuket", region: "th", center: { lat: 7.8804, lng: 98.3923 }, radiusKm: 20 },
] as const;

const EARTH_RADIUS_M = 6_371_008.8;

/** The point `meters` from `from` along the great circle leaving it at `bearingDeg` (0 = north, 90 = east). */
function destination(from: LatLng, bearingDeg: number, meters: number): LatLng {
  const rad = Math.PI / 180;
  const angle = meters / EARTH_RADIUS_M;
  const bearing = bearingDeg * rad;
  const lat1 = from.lat * rad;
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(angle) + Math.cos(lat1) * Math.sin(angle) * Math.cos(bearing));
  const lng2 =
    from.lng * rad + Math.atan2(Math.sin(bearing) * Math.sin(angle) * Math.cos(lat1), Math.cos(angle) - Math.sin(lat1) * Math.sin(lat2));
  return { lat: lat2 / rad, lng: lng2 / rad };
}

describe("cityAt", () => {
  it.each(SERVICE_AREAS)("finds $name ($region) at its centre", ({ name, region, center }) => {
    expect(cityAt(center)).toMatchObject({ name, region });
  });

  it.each(SERVICE_AREAS)("serves $name up to its radius and not beyond", ({ name, center, radiusKm }) => {
    const radius = radiusKm * 1000;
    for (const bearing of [0, 90, 180, 270, 45]) {
      expect(cityAt(destination(center, bearing, radius - 5))?.name, `${bearing}° inside`).toBe(name);
      expect(cityAt(destination(center, bearing, radius + 5)), `${bearing}° outside`).toBeUndefined();
    }
  });

  it("finds no city in the open sea, at null island or in a city UIT-Go does not serve", () => {
    expect(cityAt({ lat: 12.0, lng: 112.0 })).toBeUndefined();
    expect(cityAt({ lat: 0, lng: 0 })).toBeUndefined();
    expect(cityAt({ lat: 1.3521, lng: 103.8198 })).toBeUndefined(); // Singapore
    expect(cityAt({ lat: 12.2388, lng: 109.1967 })).toBeUndefined(); // Nha Trang
  });

  it("finds no city at the mirrored coordinates of one", () => {
    expect(cityAt({ lat: -10.7769, lng: 106.7009 })).toBeUndefined();
    expect(cityAt({ lat: 10.7769, lng: -106.7009 })).toBeUndefined();
  });
});

describe("isRegion", () => {
  it("knows vn and th only", () => {
    expect(isRegion("vn")).toBe(true);
    expect(isRegion("th")).toBe(true);
    for (const value of ["VN", "sg", "", "vn "]) expect(isRegion(value), value).toBe(false);
  });
});

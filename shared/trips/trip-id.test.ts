import { describe, expect, it } from "vitest";
import { newTripId, regionOfTripId } from "./trip-id";

describe("trip ids", () => {
  it("name their region, are UUIDv7 and never repeat, across refills of the random pool", () => {
    const ids = Array.from({ length: 10_000 }, () => newTripId("vn"));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(regionOfTripId(id)).toBe("vn");
    expect(newTripId("th")).toMatch(/^th_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("sort by creation time", () => {
    const earlier = newTripId("vn", Date.parse("2026-11-21T10:00:00Z"));
    const later = newTripId("vn", Date.parse("2026-11-21T10:00:00.001Z"));
    expect(earlier < later).toBe(true);
  });

  it("refuse text that is not a trip id", () => {
    expect(regionOfTripId("vn_not-a-uuid")).toBeUndefined();
    expect(regionOfTripId(newTripId("vn").replace("vn_", "zz_"))).toBeUndefined();
  });
});

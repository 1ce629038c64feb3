import { describe, expect, it } from "vitest";
import { InvalidInput } from "./errors";
import { integer, latitude, longitude, number, oneOf, optional, parse, parseQuery, text, timestamp, type Schema } from "./validation";

const TRIP = {
  originText: text(20),
  serviceId: oneOf(["bike", "car"] as const),
  seats: integer(1, 7),
  lat: latitude(),
  lng: longitude(),
  note: optional(text(10)),
  at: optional(timestamp()),
};

const valid = { originText: "Ben Thanh", serviceId: "car", seats: 4, lat: 10.77, lng: 106.7 };

/** The details of the 400 that `run` throws. */
function issues(run: () => unknown): { field?: string; issue: string }[] {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInput);
    expect(err).toMatchObject({ code: "invalid_request" });
    return (err as InvalidInput).details;
  }
  throw new Error("the input was accepted");
}

const issueOf = (schema: Schema, input: Record<string, unknown>) => issues(() => parse(schema, input));

describe("parse", () => {
  it("returns the fields of a valid input, dropping unknown ones", () => {
    expect(parse(TRIP, { ...valid, riderId: "someone", extra: [1, 2] })).toEqual(valid);
  });

  it("collects every problem into one 400, in schema order, with a readable message", () => {
    let error: InvalidInput | undefined;
    try {
      parse(TRIP, { serviceId: "plane", seats: 2.5, lat: 91 });
    } catch (err) {
      error = err as InvalidInput;
    }

    expect(error?.details).toEqual([
      { field: "originText", issue: "is required" },
      { field: "serviceId", issue: "must be one of bike, car" },
      { field: "seats", issue: "must be an integer" },
      { field: "lat", issue: "must be between -90 and 90" },
      { field: "lng", issue: "is required" },
    ]);
    expect(error?.message).toContain("originText is required");
    expect(error?.message).toContain("lat must be between -90 and 90");
  });

  it("treats null as missing", () => {
    expect(issueOf(TRIP, { ...valid, lat: null })).toEqual([{ field: "lat", issue: "is required" }]);
  });

  it("leaves optional fields out when absent or null, and checks them when present", () => {
    expect(parse(TRIP, { ...valid, note: null })).toEqual(valid);
    expect(parse(TRIP, { ...valid, note: "gate 2" })).toEqual({ ...valid, note: "gate 2" });
    expect(issueOf(TRIP, { ...valid, note: "far too long a note" })).toEqual([{ field: "note", issue: "must be at most 10 characters" }]);
  });

  describe("numbers", () => {
    const schema = { n: number(-1.5, 10) };

    it("accepts the bounds and refuses beyond them", () => {
      expect(parse(schema, { n: -1.5 })).toEqual({ n: -1.5 });
      expect(parse(schema, { n: 10 })).toEqual({ n: 10 });
      expect(issueOf(schema, { n: 10.000001 })).toEqual([{ field: "n", issue: "must be between -1.5 and 10" }]);
      expect(issueOf(schema, { n: -2 })).toEqual([{ field: "n", issue: "must be between -1.5 and 10" }]);
    });

    it("refuses anything that is not a finite number", () => {
      for (const n of ["5", "NaN", NaN, Infinity, -Infinity, true, [5], { n: 5 }]) {
        expect(issueOf(schema, { n }), String(n)).toEqual([{ field: "n", issue: "must be a number" }]);
      }
    });

    it("refuses a fraction where an integer is required", () => {
      expect(parse({ k: integer(0, 5) }, { k: 5 })).toEqual({ k: 5 });
      expect(issueOf({ k: integer(0, 5) }, { k: 0.5 })).toEqual([{ field: "k", issue: "must be an integer" }]);
    });

    it("bounds latitude to ±90 and longitude to ±180", () => {
      expect(parse({ lat: latitude(), lng: longitude() }, { lat: -90, lng: 180 })).toEqual({ lat: -90, lng: 180 });
      expect(issueOf({ lat: latitude(), lng: longitude() }, { lat: 90.1, lng: -180.1 }).map((d) => d.field)).toEqual(["lat", "lng"]);
    });
  });

  describe("strings", () => {
    it("refuses a non-string, a blank one and one over the limit", () => {
      const schema = { s: text(5) };

      expect(parse(schema, { s: "12345" })).toEqual({ s: "12345" });
      expect(issueOf(schema, { s: 12345 })).toEqual([{ field: "s", issue: "must be a string" }]);
      expect(issueOf(schema, { s: " \t\n" })).toEqual([{ field: "s", issue: "must not be empty" }]);
      expect(issueOf(schema, { s: "123456" })).toEqual([{ field: "s", issue: "must be at most 5 characters" }]);
    });

    it("refuses what PostgreSQL text cannot hold: NUL and unpaired surrogates, wherever they are", () => {
      const schema = { s: text(20) };
      for (const s of ["a\u0000b", "\u0000", "a\ud83d", "\ud83da", "a\ude95", "\ude95\ud83d", "\ud83d\ud83d\ude95"]) {
        expect(issueOf(schema, { s }), JSON.stringify(s)).toEqual([{ field: "s", issue: "must not contain NUL or an unpaired surrogate" }]);
      }
      for (const s of ["Bến Thành", "🚕", "a🚕b🚕", "\ud83d\ude95"]) expect(parse(schema, { s }), s).toEqual({ s });
    });

    it("accepts only the listed values of oneOf, exactly", () => {
      const schema = { kind: oneOf(["bike", "car_xl"] as const) };

      expect(parse(schema, { kind: "car_xl" })).toEqual({ kind: "car_xl" });
      for (const kind of ["Bike", "car", " bike", ""]) {
        expect(issueOf(schema, { kind }), kind).toEqual([{ field: "kind", issue: "must be one of bike, car_xl" }]);
      }
    });
  });

  describe("timestamps", () => {
    const schema = { at: timestamp() };

    it("turns an ISO 8601 timestamp into a Date", () => {
      const { at } = parse(schema, { at: "2025-01-15T12:00:00.250Z" });

      expect(at).toBeInstanceOf(Date);
      expect(at.getTime()).toBe(Date.UTC(2025, 0, 15, 12, 0, 0, 250));
      expect(parse(schema, { at: "2025-01-15T19:00:00+07:00" }).at.getTime()).toBe(Date.UTC(2025, 0, 15, 12));
    });

    it("refuses what is not an ISO 8601 date and time", () => {
      for (const at of ["2025-01-15", "15/01/2025 12:00", "yesterday", "2025-13-01T00:00:00Z", "2025-01-15T25:00:00Z", 1736942400000]) {
        expect(issueOf(schema, { at }), String(at)).toEqual([{ field: "at", issue: "must be an ISO 8601 timestamp with a time zone" }]);
      }
    });

    it("refuses a day that does not exist in its month", () => {
      expect(issueOf(schema, { at: "2025-02-30T00:00:00Z" })).toEqual([
        { field: "at", issue: "must be an ISO 8601 timestamp with a time zone" },
      ]);
    });
  });
});

describe("parseQuery", () => {
  const SEARCH = {
    lat: latitude(),
    lng: longitude(),
    radius: optional(number(1, 10_000)),
    limit: optional(integer(1, 50)),
    q: optional(text(10)),
  };

  it("converts numeric text to numbers", () => {
    expect(parseQuery(SEARCH, { lat: "10.7769", lng: "106.7009", radius: "2.5e3", limit: "+7" })).toEqual({
      lat: 10.7769,
      lng: 106.7009,
      radius: 2500,
      limit: 7,
    });
    expect(parseQuery(SEARCH, { lat: "-.5", lng: "0", radius: "10." })).toEqual({ lat: -0.5, lng: 0, radius: 10 });
  });

  it("keeps text fields as text, even when they look like numbers", () => {
    expect(parseQuery(SEARCH, { lat: "1", lng: "2", q: "007" })).toEqual({ lat: 1, lng: 2, q: "007" });
  });

  it("refuses text that only starts with a number, and number spellings other than decimal", () => {
    for (const lat of ["12abc", "0x10", "1_000", "NaN", "Infinity", "1e999", "1,5", "--1"]) {
      expect(
        issues(() => parseQuery(SEARCH, { lat, lng: "0" })),
        lat,
      ).toEqual([{ field: "lat", issue: "must be a number" }]);
    }
  });

  it("treats an empty parameter as missing", () => {
    expect(issues(() => parseQuery(SEARCH, { lat: "", lng: "1" }))).toEqual([{ field: "lat", issue: "is required" }]);
    expect(parseQuery(SEARCH, { lat: "1", lng: "1", limit: "" })).toEqual({ lat: 1, lng: 1 });
  });

  it("applies the schema's ranges and integer rule after conversion", () => {
    expect(issues(() => parseQuery(SEARCH, { lat: "91", lng: "0", radius: "10001", limit: "2.5" }))).toEqual([
      { field: "lat", issue: "must be between -90 and 90" },
      { field: "radius", issue: "must be between 1 and 10000" },
      { field: "limit", issue: "must be an integer" },
    ]);
  });
});

// The event types the functions take are what the source names the messages of their subjects.
import { expect, it } from "vitest";
import { deadLetterSubject } from "../events/dead-letter";
import { locationSubject } from "../events/location-events";
import { tripSubject } from "../events/trip-events";
import { newTripId } from "../trips/trip-id";
import { DRIVER_LOCATION_TYPE, TRIP_DEAD_LETTER_TYPE, TRIP_REQUESTED_TYPE, eventType } from "./types";

it("names each type after the subjects its events are published on", () => {
  expect(eventType(tripSubject("requested", { id: newTripId("vn") }))).toBe(TRIP_REQUESTED_TYPE);
  expect(eventType(locationSubject("th"))).toBe(DRIVER_LOCATION_TYPE);
  expect(eventType(deadLetterSubject("TRIPS", "assign-driver"))).toBe(TRIP_DEAD_LETTER_TYPE);
});

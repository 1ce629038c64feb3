// A rider's booking as the app does it: book, then poll get-trip until a driver is assigned.
import http from "k6/http";
import { check, sleep } from "k6";
import { Trend } from "k6/metrics";
import { mintToken } from "./auth.js";
import { params, url } from "./config.js";

const POLL_S = Number(__ENV.POLL_MS || 100) / 1000;
const MATCH_TIMEOUT_MS = Number(__ENV.MATCH_TIMEOUT_MS || 30000);

/** Booking request sent → first poll that sees the trip assigned, ms. Polling adds up to POLL_MS. */
export const bookedToAssigned = new Trend("booked_to_assigned", true);

/** Books a trip from `pickup`; the trip, or undefined when the booking was refused. */
export function book(riderToken, body) {
  const res = http.post(url("/v1/trips"), body, params("create-trip", riderToken));
  const booked = check(res, { "booking accepted (201)": (r) => r.status === 201 });
  return booked ? res.json() : undefined;
}

/**
 * Polls until the trip leaves `requested` (or MATCH_TIMEOUT_MS passes) and records booked → assigned.
 * Returns the trip as last seen.
 */
export function awaitDriver(trip, riderToken, sentAt, tags = {}) {
  let current = trip;
  while (current.status === "requested" && Date.now() - sentAt < MATCH_TIMEOUT_MS) {
    sleep(POLL_S);
    const res = http.get(url(`/v1/trips/${trip.id}`), params("get-trip", riderToken));
    if (res.status === 200) current = res.json();
  }
  const assigned = current.status === "assigned";
  check(current, { "a driver was assigned": () => assigned });
  if (assigned) bookedToAssigned.add(Date.now() - sentAt, tags);
  return current;
}

/** A lifecycle step (accept, decline, start, complete, cancel) by the rider or the assigned driver. */
export function act(trip, action, role, id) {
  const res = http.post(url(`/v1/trips/${trip.id}/${action}`), null, params("update-trip", mintToken(id, role), `update-trip ${action}`));
  check(res, { [`${action} answered 200`]: (r) => r.status === 200 });
  return res.status === 200 ? res.json() : trip;
}

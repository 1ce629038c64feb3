// Which of two states of one trip is the later, for a watcher that hears of a trip from two sources (its row in
// PostgreSQL and its events on TRIPS) that can arrive in either order. Events go out inside the transition's
// transaction, before it commits, so a read can be older than an event already heard; updatedAt alone cannot order
// them either (it is now(), the start of a transaction that may have waited on the row lock).
import type { Trip, TripStatus } from "./trip";

export const TERMINAL_STATUSES: readonly TripStatus[] = ["completed", "cancelled", "no_driver"];

// How far along the lifecycle each status is. Every transition but a decline moves forward.
const STAGE: Record<TripStatus, number> = { requested: 0, assigned: 1, accepted: 2, in_ride: 3, completed: 4, cancelled: 4, no_driver: 4 };

export function isTerminal(status: TripStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/**
 * Whether `next` comes after `last`. A terminal state is final; a later stage is later; a step back is only a decline
 * (assigned → requested), later if it was written later; the same stage again (assigned to another driver after a
 * decline that was missed) is later if written later, and the same state is not.
 */
export function isLaterState(next: Trip, last: Trip): boolean {
  if (isTerminal(last.status)) return false;
  const step = STAGE[next.status] - STAGE[last.status];
  if (step > 0) return true;
  if (step < 0 && next.status !== "requested") return false;
  // ISO 8601 times of one format order as strings.
  return next.updatedAt > last.updatedAt;
}

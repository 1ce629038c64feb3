// The trip lifecycle after matching (SPEC §3) as a pure function: who may do what, from which status, to which.
// Nothing here reads or writes a store, so every rule is tested without PostgreSQL (state-machine.test.ts);
// trip-store.ts persists what `decide` returns and lifecycle.ts announces it.
//
//   requested → assigned → accepted → in_ride → completed
//                  │ decline: back to requested, matched again without that driver
//   requested / assigned / accepted → cancelled (by the rider)
import type { Principal, Role } from "../principal";
import { isParticipant, type Trip, type TripEventType, type TripStatus } from "./trip";

export interface Transition {
  /** Who may ask for it: the trip's assigned driver, or its rider. */
  by: Role;
  from: readonly TripStatus[];
  to: TripStatus;
  /** The event announced on TRIPS once the transition is stored. */
  event: TripEventType;
  /** Whether the driver leaves the trip and becomes available again. */
  releasesDriver: boolean;
  /**
   * Whether the trip goes back to matching without its driver (a decline). Such a step cannot be replayed: the driver
   * who asked for it is no longer the trip's, so a repeat finds a trip that is not theirs.
   */
  rematches: boolean;
}

const RULES = {
  accept: { by: "driver", from: ["assigned"], to: "accepted", event: "accepted", releasesDriver: false, rematches: false },
  decline: { by: "driver", from: ["assigned"], to: "requested", event: "declined", releasesDriver: true, rematches: true },
  start: { by: "driver", from: ["accepted"], to: "in_ride", event: "started", releasesDriver: false, rematches: false },
  complete: { by: "driver", from: ["in_ride"], to: "completed", event: "completed", releasesDriver: true, rematches: false },
  cancel: {
    by: "rider",
    from: ["requested", "assigned", "accepted"],
    to: "cancelled",
    event: "cancelled",
    releasesDriver: true,
    rematches: false,
  },
} satisfies Record<string, Transition>;

export type TripAction = keyof typeof RULES;
export const TRANSITIONS: Readonly<Record<TripAction, Transition>> = RULES;
export const TRIP_ACTIONS = Object.keys(TRANSITIONS) as TripAction[];

/** What the store writes for an applied action. */
export interface TripChange {
  status: TripStatus;
  /** The trip's driver afterwards: null once they left it. */
  driverId: string | null;
  /** The driver to add to the trip's decliners, who is never offered it again. */
  declinedBy?: string;
}

export type Decision =
  /** The actor's role never takes this action: refused before the trip is looked at. */
  | { kind: "forbidden"; by: Role }
  /** No such trip, or not the actor's: the same answer, so a trip's existence does not leak. */
  | { kind: "not_found" }
  /** The action does not apply to the trip's status. */
  | { kind: "conflict"; trip: Trip }
  /** The action already brought the trip where it is: a retry whose answer was lost. */
  | { kind: "replay"; trip: Trip }
  | { kind: "apply"; trip: Trip; change: TripChange };

/** The role check, the one rule that needs no trip. */
export function authorize(action: TripAction, actor: Principal): Extract<Decision, { kind: "forbidden" }> | undefined {
  const { by } = TRANSITIONS[action];
  return actor.role === by ? undefined : { kind: "forbidden", by };
}

/** What `action` by `actor` does to the trip as it stands (`before`, undefined when there is none). */
export function decide(before: Trip | undefined, action: TripAction, actor: Principal): Decision {
  const forbidden = authorize(action, actor);
  if (forbidden) return forbidden;
  if (!before || !isParticipant(before, actor)) return { kind: "not_found" };

  const rule = TRANSITIONS[action];
  if (before.status === rule.to && !rule.rematches) return { kind: "replay", trip: before };
  if (!rule.from.includes(before.status)) return { kind: "conflict", trip: before };
  const driverId = before.driverId ?? null;
  const change: TripChange = rule.rematches
    ? { status: rule.to, driverId: null, ...(driverId && { declinedBy: driverId }) }
    : { status: rule.to, driverId };
  return { kind: "apply", trip: before, change };
}

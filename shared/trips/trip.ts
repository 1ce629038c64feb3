// The trip as the API and the events carry it (SPEC §3).
import type { Principal } from "../principal";

export const SERVICE_IDS = ["bike", "car", "car_xl"] as const;
export type ServiceId = (typeof SERVICE_IDS)[number];

export const TRIP_STATUSES = ["requested", "assigned", "accepted", "in_ride", "completed", "cancelled", "no_driver"] as const;
export type TripStatus = (typeof TRIP_STATUSES)[number];

/** What happens to a trip, each announced on TRIPS as trips.<type>. */
export const TRIP_EVENT_TYPES = [
  "requested",
  "assigned",
  "unassigned",
  "accepted",
  "declined",
  "started",
  "completed",
  "cancelled",
] as const;
export type TripEventType = (typeof TRIP_EVENT_TYPES)[number];

export interface TripRequest {
  serviceId: ServiceId;
  originText: string;
  destText: string;
  originLat: number;
  originLng: number;
  destLat: number;
  destLng: number;
}

export interface Trip extends TripRequest {
  id: string;
  riderId: string;
  driverId?: string;
  status: TripStatus;
  createdAt: string;
  updatedAt: string;
}

/** A rider may read their own trips, a driver the trips assigned to them. */
export function isParticipant(trip: Trip, principal: Principal): boolean {
  return principal.role === "rider" ? trip.riderId === principal.id : trip.driverId === principal.id;
}

// A driver as the location updates describe it: available or offline, at a position, at an instant (SPEC §4).
import type { LatLng } from "../geo";
import type { Region } from "../regions";
import { latitude, longitude, number, optional } from "../validation";

export const DRIVER_STATUSES = ["available", "offline"] as const;
export type DriverStatus = (typeof DRIVER_STATUSES)[number];

/** What the geo-index keeps of a driver. */
export interface LocationUpdate extends LatLng {
  driverId: string;
  status: DriverStatus;
  recordedAt: number;
}

/** What a driver's device measures, as the API takes it and as the event carries it. */
export const MEASURED_FIELDS = {
  lat: latitude(),
  lng: longitude(),
  accuracy: optional(number(0, 10_000)),
  heading: optional(number(0, 360)),
  speed: optional(number(0, 100)),
};

/** One accepted location update, as history keeps it. */
export interface DriverLocation extends LocationUpdate {
  region: Region;
  accuracy?: number;
  heading?: number;
  speed?: number;
}

/** The identity of an update: a driver reports one position per instant. */
export function locationKey(location: Pick<DriverLocation, "driverId" | "recordedAt">): string {
  return `${location.driverId}:${location.recordedAt}`;
}

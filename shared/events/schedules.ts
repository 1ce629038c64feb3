// Events a function gets on a clock rather than from a stream: a Knative PingSource per schedule on a cluster
// (rendered by infra/manifests/ping-source.ts), a timer in the local stack (local/stack.ts).

/** A ping's body is the PingSource's data, "{}". */
export const MAX_PING_BYTES = 1024;

export interface Schedule {
  /** The PingSource's name. */
  name: string;
  /** The function called, and the path on it. */
  function: string;
  path: string;
  everyMinutes: number;
}

export const SCHEDULES: readonly Schedule[] = [
  // Trips that matching never saw (functions/settle-dead-letters): found within minutes, and a ping rarely
  // enough that the function still spends most of its time scaled to zero.
  { name: "forgotten-trips", function: "settle-dead-letters", path: "/forgotten-trips", everyMinutes: 5 },
];

/** The schedule in cron syntax, as a PingSource takes it. */
export function cronOf(schedule: Schedule): string {
  return `*/${schedule.everyMinutes} * * * *`;
}

// The local stand-in for the PingSources a cluster runs (shared/events/schedules.ts): a timer per schedule that
// sends its function the same CloudEvent a PingSource would.
import { randomUUID } from "node:crypto";
import { toBinary } from "../shared/cloudevents/http-binding";
import { PING_TYPE } from "../shared/cloudevents/types";
import { SCHEDULES, type Schedule } from "../shared/events/schedules";
import { SENDER_HEADER } from "../shared/http/internal-sender";

/** Sends one ping for the schedule to the function listening on `port`; the function's answer. */
function ping(schedule: Schedule, port: number, internalSecret: string): Promise<Response> {
  const attributes = { id: randomUUID(), source: `local/schedules/${schedule.name}`, type: PING_TYPE, time: new Date().toISOString() };
  const { headers, body } = toBinary(attributes, "application/json", Buffer.from("{}"));
  return fetch(`http://127.0.0.1:${port}${schedule.path}`, {
    method: "POST",
    headers: { ...headers, [SENDER_HEADER]: internalSecret },
    body,
  });
}

/** Pings each scheduled function every `everyMinutes` while it runs; a failed ping is logged, as a PingSource would. */
export function startSchedules(ports: Record<string, number>, internalSecret: string, log: (line: string) => void): { stop(): void } {
  const timers = SCHEDULES.filter((schedule) => ports[schedule.function] !== undefined).map((schedule) => {
    const timer = setInterval(() => {
      ping(schedule, ports[schedule.function]!, internalSecret)
        .then((response) => {
          if (!response.ok) log(`schedule ${schedule.name}: ${schedule.function} answered ${response.status}`);
        })
        .catch((err: unknown) => log(`schedule ${schedule.name}: ${String(err)}`));
    }, schedule.everyMinutes * 60_000);
    timer.unref();
    return timer;
  });
  return { stop: () => timers.forEach(clearInterval) };
}

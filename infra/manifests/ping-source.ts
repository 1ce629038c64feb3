// A PingSource per schedule (shared/events/schedules.ts): the cluster's timer for a function's route.
import type { Document } from "yaml";
import { cronOf, type Schedule } from "../../shared/events/schedules";
import { SENDER_EXTENSION } from "../../shared/http/internal-sender";
import { FUNCTIONS_NAMESPACE, HEADER, PART_OF } from "./names";
import { commented } from "./yaml";

/**
 * A PingSource cannot read a Secret, so the secret its function checks is written into it as a CloudEvents extension
 * (sent as the ce-uitgosender header) when it is applied with the Secret (`secret`); the committed file has none.
 */
export function pingSource(schedule: Schedule, internalSecret?: string): Document {
  const source = {
    apiVersion: "sources.knative.dev/v1",
    kind: "PingSource",
    metadata: { name: schedule.name, namespace: FUNCTIONS_NAMESPACE, labels: { ...PART_OF } },
    spec: {
      schedule: cronOf(schedule),
      contentType: "application/json",
      data: "{}",
      sink: { ref: { apiVersion: "serving.knative.dev/v1", kind: "Service", name: schedule.function }, uri: schedule.path },
      ...(internalSecret !== undefined && { ceOverrides: { extensions: { [SENDER_EXTENSION]: internalSecret } } }),
    },
  };
  return commented(
    source,
    [[["spec", "sink", "uri"], "Resolved against the function's address: the route that takes the ping."]],
    `${HEADER}
Every ${schedule.everyMinutes} minutes, a ping to ${schedule.function} ${schedule.path}. ${
      internalSecret === undefined
        ? "As committed it carries no INTERNAL_SECRET, so its function refuses its pings: infra/cluster.sh deploy applies it from `manifests secret`, with the secret in ceOverrides."
        : "It carries INTERNAL_SECRET in ceOverrides."
    }`,
  );
}

// The functions only the JetStream sources and the PingSources call, and the NetworkPolicy that keeps
// other pods from theirs: they take CloudEvents, not user requests.
import type { Document } from "yaml";
import { FUNCTIONS } from "../../esbuild.config";
import { CONSUMERS } from "../../shared/events/definitions";
import { SCHEDULES } from "../../shared/events/schedules";
import { FUNCTIONS_NAMESPACE, HEADER, PART_OF, SOURCE_LABEL } from "./names";
import { commented } from "./yaml";

/** The functions only the JetStream sources and the PingSources call: cluster-local, and behind the NetworkPolicy. */
export function isInternal(name: string): boolean {
  return CONSUMERS.some((c) => c.config.durable_name === name) || SCHEDULES.some((s) => s.function === name);
}

/** Ingress to the internal functions' pods from what legitimately calls them, and from nothing else. */
export function networkPolicy(): Document {
  const fromNamespace = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
  const policy = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "internal-functions", namespace: FUNCTIONS_NAMESPACE, labels: { ...PART_OF } },
    spec: {
      podSelector: { matchExpressions: [{ key: "serving.knative.dev/service", operator: "In", values: FUNCTIONS.filter(isInternal) }] },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            { podSelector: { matchExpressions: [{ key: SOURCE_LABEL, operator: "Exists" }] } },
            fromNamespace("knative-serving"),
            fromNamespace("kourier-system"),
            fromNamespace("knative-eventing"),
            fromNamespace("monitoring"),
          ],
        },
      ],
    },
  };
  return commented(
    policy,
    [
      [
        ["spec", "ingress", 0, "from"],
        "The JetStream sources' pods; Knative's activator and Kourier's internal gateway, which carry cluster-local requests while a revision scales from zero and after; the PingSource adapter (knative-eventing); Prometheus (monitoring). The activator and Kourier forward for any pod, so the policy only keeps other pods from reaching the functions' pods directly; INTERNAL_SECRET is what tells the senders apart. Enforced only where the cluster's network plugin enforces NetworkPolicy.",
      ],
    ],
    `${HEADER}\nThe internal functions (the CloudEvent receivers) take requests only from their senders' side of the cluster.`,
  );
}

// What goes in the ConfigMap and the Secret, and which container is given which of their keys: a key
// that is not in them fails rendering instead of a pod that cannot start.
import type { Document } from "yaml";
import { REGIONS } from "../../shared/regions";
import { OTEL_SDK_CONFIG } from "../monitoring/telemetry";
import { CONFIG_MAP, DATA_NAMESPACE, FUNCTIONS_NAMESPACE, HEADER, NATS_NAMESPACE, PART_OF, SECRET, serviceHost } from "./names";
import type { Store } from "./stores";
import { commented } from "./yaml";

/** Non-secret settings, in the ConfigMap: the store addresses inside the cluster, and where traces go and how many. */
export const CONFIG_VALUES: Readonly<Record<string, string>> = {
  NATS_URL: `nats://${serviceHost("nats", NATS_NAMESPACE)}:4222`,
  REDIS_URL: `redis://${serviceHost("redis", DATA_NAMESPACE)}:6379`,
  ...OTEL_SDK_CONFIG,
};

/** The variables a region shard's primary (through its pooler) and read replica are reached by. */
export function databaseUrlKey(region: string): string {
  return `DATABASE_URL_${region.toUpperCase()}`;
}

export function replicaUrlKey(region: string): string {
  return `DATABASE_REPLICA_URL_${region.toUpperCase()}`;
}

/** The Secret's keys: the HS256 secret, and each shard's URLs (they carry the database password). */
export const SECRET_KEYS: readonly string[] = [
  "JWT_SECRET",
  "INTERNAL_SECRET",
  ...REGIONS.flatMap((r) => [databaseUrlKey(r), replicaUrlKey(r)]),
];

export type EnvVar =
  | { name: string; value: string }
  | { name: string; valueFrom: { configMapKeyRef: { name: string; key: string } } | { secretKeyRef: { name: string; key: string } } };

export function fromConfig(name: string): EnvVar {
  if (!(name in CONFIG_VALUES)) throw new Error(`${name} is not in the ConfigMap`);
  return { name, valueFrom: { configMapKeyRef: { name: CONFIG_MAP, key: name } } };
}

export function fromSecret(name: string): EnvVar {
  if (!SECRET_KEYS.includes(name)) throw new Error(`${name} is not in the Secret`);
  return { name, valueFrom: { secretKeyRef: { name: SECRET, key: name } } };
}

/** Every interface: Knative's queue-proxy, the kubelet's probes and Prometheus reach the container from outside its loopback. */
export const LISTEN_EVERYWHERE: EnvVar = { name: "HOST", value: "0.0.0.0" };

/**
 * OpenTelemetry's standard SDK variables: the service a process reports its spans as, and (from the ConfigMap, so one
 * edit reaches every pod started after it, a scale from zero included) where it exports them and how many it keeps.
 */
export function telemetryEnv(serviceName: string): EnvVar[] {
  return [{ name: "OTEL_SERVICE_NAME", value: serviceName }, ...Object.keys(OTEL_SDK_CONFIG).map(fromConfig)];
}

/**
 * A function's environment: the secret for tokens (loadConfig refuses to start without it on Knative), for an internal
 * function the secret its senders show, the stores its bundle links, and its tracing.
 */
export function functionEnv(name: string, stores: Set<Store>, internal: boolean): EnvVar[] {
  const env = [LISTEN_EVERYWHERE, fromSecret("JWT_SECRET")];
  if (internal) env.push(fromSecret("INTERNAL_SECRET"));
  if (stores.has("postgres")) {
    for (const r of REGIONS) env.push(fromSecret(databaseUrlKey(r)), fromSecret(replicaUrlKey(r)));
  }
  if (stores.has("redis")) env.push(fromConfig("REDIS_URL"));
  if (stores.has("nats")) env.push(fromConfig("NATS_URL"));
  env.push(...telemetryEnv(name));
  return env;
}

export function configMap(): Document {
  return commented(
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: CONFIG_MAP, namespace: FUNCTIONS_NAMESPACE, labels: { ...PART_OF } },
      data: { ...CONFIG_VALUES },
    },
    [],
    `${HEADER}\nStore addresses inside the cluster, and the OpenTelemetry collector's address and sampler (infra/monitoring/telemetry.ts). Database URLs and JWT_SECRET are in the Secret ${SECRET}, which infra/cluster.sh creates (they carry passwords).`,
  );
}

// The Secret and the PingSources that carry a value from it: rendered at deploy time from what
// infra/cluster.sh reads out of the cluster, never committed.
import { createHmac } from "node:crypto";
import { Document } from "yaml";
import { SCHEDULES } from "../../shared/events/schedules";
import { REGIONS } from "../../shared/regions";
import { databaseUrlKey, replicaUrlKey } from "./env";
import { DATA_NAMESPACE, FUNCTIONS_NAMESPACE, PART_OF, SECRET, serviceHost } from "./names";
import { pingSource } from "./ping-source";
import { DATABASE, DATABASE_OWNER, clusterName, poolerName } from "./postgres";
import { yamlFile } from "./yaml";

/**
 * The Secret, from `KEY=value` lines: JWT_SECRET=..., and password.<region>=... for each shard's owner.
 * URLs point at the shard's pooler (writes) and its replica's read-only service.
 */
export function secretManifest(input: string): string {
  const values = new Map(
    input
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
  );
  const need = (key: string) => {
    const value = values.get(key);
    if (!value) throw new Error(`secret: no ${key}= line on stdin`);
    return value;
  };
  const data: Record<string, string> = { JWT_SECRET: need("JWT_SECRET"), INTERNAL_SECRET: internalSecretFor(need("JWT_SECRET")) };
  for (const region of REGIONS) {
    const password = encodeURIComponent(need(`password.${region}`));
    const url = (service: string) => `postgres://${DATABASE_OWNER}:${password}@${serviceHost(service, DATA_NAMESPACE)}:5432/${DATABASE}`;
    data[databaseUrlKey(region)] = url(poolerName(region));
    data[replicaUrlKey(region)] = url(`${clusterName(region)}-ro`);
  }
  return new Document({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: SECRET, namespace: FUNCTIONS_NAMESPACE, labels: { ...PART_OF } },
    type: "Opaque",
    stringData: data,
  }).toString();
}

/**
 * Derived from the JWT secret, which infra/cluster.sh keeps across deploys, so it is kept too and needs no store of its
 * own. One-way: knowing it gives no way to mint tokens.
 */
export function internalSecretFor(jwtSecret: string): string {
  return createHmac("sha256", jwtSecret).update("uitgo internal senders").digest("base64url");
}

/** The PingSources as `secret` applies them: each with the secret its function checks. */
export function pingSourcesWithSecret(input: string): string {
  const jwt = /^JWT_SECRET=(.+)$/m.exec(input)?.[1];
  if (!jwt) throw new Error("secret: no JWT_SECRET= line on stdin");
  return yamlFile(SCHEDULES.map((schedule) => pingSource(schedule, internalSecretFor(jwt))));
}

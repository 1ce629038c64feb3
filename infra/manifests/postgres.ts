// PostgreSQL: one CloudNativePG cluster (a primary and a streaming replica) and one PgBouncer pooler per
// region shard.
import type { Document } from "yaml";
import { REGIONS } from "../../shared/regions";
import { replicaUrlKey } from "./env";
import { DATA_NAMESPACE, HEADER, PART_OF } from "./names";
import { commented } from "./yaml";

export function clusterName(region: string): string {
  return `uitgo-${region}`;
}

export function poolerName(region: string): string {
  return `uitgo-${region}-pooler-rw`;
}

export const DATABASE = "uitgo";
export const DATABASE_OWNER = "uitgo";

export function postgresDocs(): Document[] {
  return REGIONS.flatMap((region, index) => {
    const cluster = commented(
      {
        apiVersion: "postgresql.cnpg.io/v1",
        kind: "Cluster",
        metadata: { name: clusterName(region), namespace: DATA_NAMESPACE, labels: { ...PART_OF, "uitgo.dev/region": region } },
        spec: {
          instances: 2,
          storage: { size: "1Gi" },
          bootstrap: { initdb: { database: DATABASE, owner: DATABASE_OWNER } },
          postgresql: { parameters: { max_connections: "200" } },
          resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
        },
      },
      [
        [
          ["spec", "instances"],
          `A primary and one streaming replica: ${replicaUrlKey(region)} reads from the replica (service ${clusterName(region)}-ro).`,
        ],
        [
          ["spec", "bootstrap"],
          "CloudNativePG creates the owner's password in the Secret <cluster>-app; infra/cluster.sh builds the functions' URLs from it and applies db/schema.sql on every deploy.",
        ],
        [
          ["spec", "postgresql", "parameters", "max_connections"],
          "Default 100. The replica takes direct connections (get-trip: up to 10 pods × 10, list-trips: 4 × 10, plus one idle per pod of every other PostgreSQL function); the primary is behind PgBouncer and needs far fewer.",
        ],
      ],
      index === 0 ? `${HEADER}\nEach region shard: a CloudNativePG cluster and a PgBouncer pooler in front of its primary.` : undefined,
    );
    const pooler = commented(
      {
        apiVersion: "postgresql.cnpg.io/v1",
        kind: "Pooler",
        metadata: { name: poolerName(region), namespace: DATA_NAMESPACE, labels: { ...PART_OF, "uitgo.dev/region": region } },
        spec: {
          cluster: { name: clusterName(region) },
          instances: 1,
          type: "rw",
          pgbouncer: {
            poolMode: "transaction",
            parameters: {
              max_prepared_statements: "200",
              ignore_startup_parameters: "statement_timeout",
              max_client_conn: "1000",
              default_pool_size: "20",
            },
          },
        },
      },
      [
        [
          ["spec", "pgbouncer", "poolMode"],
          "Transaction mode: scaled-out pods hold hundreds of mostly idle client connections, and a server connection is only taken for the length of a transaction. The code uses no session state (no LISTEN, advisory locks or SET), which is what transaction mode forbids.",
        ],
        [
          ["spec", "pgbouncer", "parameters", "max_prepared_statements"],
          "postgres.js prepares every statement by name; PgBouncer (1.21 and later) then tracks those protocol-level prepared statements per server connection, so they survive transaction pooling.",
        ],
        [
          ["spec", "pgbouncer", "parameters", "ignore_startup_parameters"],
          "postgres.js sends statement_timeout as a startup parameter, which PgBouncer refuses unless told to ignore it. It is ignored here and set on the role instead (ALTER ROLE ... SET statement_timeout, by infra/cluster.sh), so the limit still holds behind the pooler. CloudNativePG appends this to its own extra_float_digits,options.",
        ],
        [
          ["spec", "pgbouncer", "parameters", "default_pool_size"],
          "PgBouncer's default, stated because it is how many connections each shard's primary sees from the functions.",
        ],
      ],
    );
    return [cluster, pooler];
  });
}

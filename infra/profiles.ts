// How each function scales on Knative: the one place these numbers are decided. infra/manifests.ts renders
// them into knative/<function>.yaml, with `why` as the comment above them, and refuses to render a
// function that has no entry here, so a new function cannot ship with numbers nobody chose.
//
// Budget they share: every pod opens a postgres.js pool of up to 10 connections per shard
// (shared/clients/postgres.ts), through the shard's PgBouncer pooler (max_client_conn 1000, see
// infra/manifests.ts), and keeps one open to each read replica (readiness pings it). Sum of
// maxScale over the PostgreSQL functions × 10 must stay well under the pooler's max_client_conn, and
// get-trip's maxScale × 10 under the replica's max_connections (200).

export interface Profile {
  /** Hard limit of requests in one pod at once (queue-proxy queues the rest; the activator buffers). */
  containerConcurrency: number;
  /** KPA's soft target of requests in flight per pod: it adds pods before the hard limit is reached. */
  target: number;
  maxScale: number;
  /** Why these numbers for this function; becomes the comment above them. */
  why: string;
}

export const PROFILES: Readonly<Record<string, Profile>> = {
  "create-trip": {
    containerConcurrency: 20,
    target: 10,
    maxScale: 10,
    why: "An insert and a JetStream publish ack per request. More than 20 at once would only queue on the pod's 10-connection pool, out of the autoscaler's sight.",
  },
  "get-trip": {
    containerConcurrency: 20,
    target: 10,
    maxScale: 10,
    why: "One indexed read on the shard's replica per request; 20 at once keeps the pod's 10-connection pool busy without hiding a queue inside the pod. 10 pods × 10 connections stays under the replica's max_connections (200).",
  },
  "update-trip": {
    containerConcurrency: 20,
    target: 10,
    maxScale: 10,
    why: "A transaction, a Redis script and a publish per request: PostgreSQL-bound like create-trip.",
  },
  "search-drivers": {
    containerConcurrency: 100,
    target: 50,
    maxScale: 10,
    why: "One Redis Lua script (well under a millisecond) per request; the pod's CPU (JSON and JWT) is the limit, so many requests share one pod.",
  },
  "update-location": {
    containerConcurrency: 100,
    target: 50,
    maxScale: 10,
    why: "The busiest endpoint (every driver every few seconds): a Redis write and a JetStream publish per request, cheap enough for many at once per pod.",
  },
  "assign-driver": {
    containerConcurrency: 16,
    target: 8,
    maxScale: 8,
    why: "Each event is a Redis claim plus a PostgreSQL transaction. The source keeps up to 128 deliveries in flight (SOURCE_CONCURRENCY); at most 8 pods of 16 take a full window.",
  },
  "record-locations": {
    containerConcurrency: 64,
    target: 50,
    maxScale: 4,
    why: "Writes location history in batches: the source sends batches of up to 250 events, 4 requests at a time (SOURCE_SETTINGS), so one pod takes the whole window; more pods only help if PostgreSQL falls behind.",
  },
  "settle-dead-letters": {
    containerConcurrency: 10,
    target: 5,
    maxScale: 2,
    why: "Dead letters are rare; two pods are plenty and keep a burst of them from crowding the shard pools.",
  },
};

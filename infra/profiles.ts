// How each function scales on Knative: the one place these numbers are decided. infra/manifests/ renders
// them into knative/<function>.yaml, with `why` as the comment above them, and refuses to render a
// function that has no entry here, so a new function cannot ship with numbers nobody chose.
//
// Budget they share: every pod opens a postgres.js pool of up to 10 connections per shard
// (shared/clients/postgres.ts), through the shard's PgBouncer pooler (max_client_conn 1000, see
// infra/manifests/postgres.ts), and keeps one open to each read replica (readiness pings it). Sum of
// maxScale over the PostgreSQL functions × 10 must stay well under the pooler's max_client_conn, and
// get-trip's plus list-trips' maxScale × 10, plus home's maxScale × 2 (its pool is 2 per shard), under the
// replica's max_connections (200).

export interface Profile {
  /** Hard limit of requests in one pod at once (queue-proxy queues the rest; the activator buffers). */
  containerConcurrency: number;
  /** KPA's soft target of requests in flight per pod: it adds pods before the hard limit is reached. */
  target: number;
  maxScale: number;
  /** Why these numbers for this function; becomes the comment above them. */
  why: string;
  /**
   * Its requests are long-lived connections (event streams, WebSockets), each counted as one request in flight for as
   * long as it stays open: the revision gets the timeouts of infra/manifests/timing.ts STREAM_* instead of a request's.
   */
  longLived?: boolean;
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
    why: "Writes location history in batches: the source sends batches of up to 32 events of up to 64 updates each, 4 requests at a time (SOURCE_SETTINGS), so one pod takes the whole window; more pods only help if PostgreSQL falls behind.",
  },
  "list-trips": {
    containerConcurrency: 20,
    target: 10,
    maxScale: 4,
    why: "One indexed page read on every shard's replica per request, in parallel: like get-trip, 20 at once keep the pod's 10-connection pools busy without a queue inside it. A history screen is opened far less often than a trip is polled, and the replica is shared with get-trip: 10 × 10 for get-trip, 4 × 10 here and one idle connection from each other PostgreSQL pod stay under its max_connections (200).",
  },
  "watch-trip": {
    containerConcurrency: 500,
    target: 300,
    maxScale: 10,
    longLived: true,
    why: "Each watcher is one open connection, and Knative counts it as one request in flight for as long as it is open: containerConcurrency and target are numbers of connections, not of requests per second. An idle watcher costs a few KiB and a timer, a change costs a JSON write per watcher, so hundreds share a pod; PostgreSQL is read only when a watch opens or resyncs. 500 stays under config-defaults' container-concurrency-max-limit (1000). Scaling in does not move open connections: a pod taken away drains, closing its WebSockets with 1001 and ending its streams, and the clients reconnect to the pods left.",
  },
  "settle-dead-letters": {
    containerConcurrency: 10,
    target: 5,
    maxScale: 2,
    why: "Dead letters are rare; two pods are plenty and keep a burst of them from crowding the shard pools.",
  },
  home: {
    containerConcurrency: 100,
    target: 50,
    maxScale: 4,
    why: "Almost every request is one Redis GET: a key is read from PostgreSQL once per expiry, whatever the pod count (a lock across pods). The pod's CPU (JSON and JWT) is the limit, as for search-drivers. Its pools go to the shards' read replicas, 2 connections each (a miss is one query per shard, and the lock lets one miss per key run at once): 4 pods × 2 beside get-trip's 100 and list-trips' 40 stay under the replica's max_connections (200).",
  },
};

/**
 * How each JetStream source scales on the cluster: KEDA's nats-jetstream scaler reads its consumer's lag
 * (pending + ack pending, from the NATS monitoring endpoint) and KEDA's HPA runs ceil(lag ÷ lagThreshold)
 * replicas, between minReplicas and maxReplicas. The replicas share the one durable pull consumer, each
 * holding at most `concurrency` deliveries (SOURCE_CONCURRENCY, per replica). tests/deploy holds every entry
 * to three bounds: maxReplicas × what a replica holds stays within the consumer's max_ack_pending; the
 * deliveries in flight stay within what the function takes at max-scale (more would only queue in front of
 * it, towards the sink timeout); and lagThreshold is above what one replica holds, so a replica's own
 * window never calls for another.
 */
export interface SourceProfile {
  minReplicas: number;
  maxReplicas: number;
  lagThreshold: number;
  /** SOURCE_CONCURRENCY on the cluster, per replica. */
  concurrency: number;
  why: string;
}

export const SOURCE_PROFILES: Readonly<Record<string, SourceProfile>> = {
  "assign-driver": {
    minReplicas: 1,
    maxReplicas: 4,
    lagThreshold: 64,
    concurrency: 32,
    why: "assign-driver takes at most 8 pods × 16 = 128 deliveries at once, so 4 replicas × 32 reach that ceiling and no more. One replica while the lag is within two of its windows (64); a backlog of 10,000 trips runs all four.",
  },
  "record-locations": {
    minReplicas: 1,
    maxReplicas: 2,
    lagThreshold: 256,
    concurrency: 4,
    why: "A replica holds 4 batches of 32 events (128), each event up to 64 updates. PostgreSQL's inserts bind before the function's 4 pods do, so a second replica, for a lag above two windows, is as far as it helps; the consumer's max_ack_pending (2000) leaves room for both.",
  },
  "settle-dead-letters": {
    minReplicas: 1,
    maxReplicas: 2,
    lagThreshold: 20,
    concurrency: 10,
    why: "settle-dead-letters takes 2 pods × 10 = 20 at once: 2 replicas × 10. Dead letters are rare; the second replica only runs for a burst of them.",
  },
};

// Real stores, emptied between tests and between bench scenarios: the Redis database, the shard databases, the
// streams of the environment loadConfig() reads. The connections are opened on first use and kept until closeState(),
// which the suite calls after each test file and the bench when it ends.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import postgres from "postgres";
import { loadConfig } from "../shared/config";
import { STREAMS } from "../shared/events/definitions";
import { REGIONS, type Region } from "../shared/regions";

const config = loadConfig();

interface Connections {
  redis: Redis;
  shards: Record<Region, postgres.Sql>;
  nc: NatsConnection;
  jsm: JetStreamManager;
}

let open: Promise<Connections> | undefined;

function connections(): Promise<Connections> {
  open ??= (async () => {
    const nc = await connect({ servers: config.natsUrl });
    const shards = Object.fromEntries(REGIONS.map((region) => [region, shardSql(region)])) as Record<Region, postgres.Sql>;
    return { redis: new Redis(config.redisUrl), shards, nc, jsm: await jetstreamManager(nc) };
  })();
  return open;
}

export async function resetState(): Promise<void> {
  const { redis, shards, jsm } = await connections();
  await Promise.all([
    redis.flushdb(),
    ...REGIONS.map((region) => shards[region]`truncate trips`),
    ...STREAMS.map((stream) => jsm.streams.purge(stream.name)),
  ]);
}

export async function closeState(): Promise<void> {
  if (!open) return;
  const { redis, shards, nc } = await open;
  open = undefined;
  await Promise.all([redis.quit(), nc.close(), ...REGIONS.map((region) => shards[region].end())]);
}

/** A direct connection to a shard, for assertions on what was (not) written. */
export function shardSql(region: Region) {
  return postgres(config.shards[region].primaryUrl, { max: 2, onnotice: () => {} });
}

export async function tripCount(): Promise<number> {
  const { shards } = await connections();
  const counts = await Promise.all(REGIONS.map((region) => shards[region]<{ n: number }[]>`select count(*)::int as n from trips`));
  return counts.reduce((total, [row]) => total + row!.n, 0);
}

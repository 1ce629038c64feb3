// `npm run streams`: each stream and its consumers, as `nats stream info` / `nats consumer info` show them,
// for people without the nats CLI. `--json` prints the raw numbers, `--watch` redraws every 2 s.
import { jetstreamManager, type ConsumerInfo, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../shared/config";
import { CONSUMERS, STREAMS } from "../shared/events/definitions";

export interface StreamReport {
  name: string;
  /** Undefined when the stream does not exist on this server (not provisioned yet). */
  stream?: StreamInfo;
  consumers: ConsumerInfo[];
}

/** The product's streams (and any other consumers on them), with their consumers' state. */
export async function readStreams(jsm: JetStreamManager): Promise<StreamReport[]> {
  return Promise.all(
    STREAMS.map(async ({ name }): Promise<StreamReport> => {
      const stream = await jsm.streams.info(name).catch((err: unknown) => {
        if (err instanceof Error && /not found/i.test(err.message)) return undefined;
        throw err;
      });
      if (!stream) return { name, consumers: [] };
      const consumers: ConsumerInfo[] = [];
      for await (const consumer of jsm.consumers.list(name)) consumers.push(consumer);
      return { name, stream, consumers: consumers.sort((a, b) => a.name.localeCompare(b.name)) };
    }),
  );
}

export function formatStreams(reports: StreamReport[], now = Date.now()): string {
  const lines: string[] = [];
  for (const { name, stream, consumers } of reports) {
    if (!stream) {
      lines.push(`Stream ${name}: not on this server (npm run provision creates it)`, "");
      continue;
    }
    const { state, config } = stream;
    lines.push(`Stream ${config.name} (${config.subjects?.join(", ")})`);
    lines.push(`  messages ${state.messages}, ${bytes(state.bytes)}, sequences ${state.first_seq}–${state.last_seq}`);
    lines.push(`  first ${state.first_ts} · last ${state.last_ts} · consumers ${state.consumer_count}`);
    for (const c of consumers) {
      const known = CONSUMERS.some((d) => d.stream === config.name && d.config.durable_name === c.name);
      lines.push(`  Consumer ${c.name}${known ? "" : " (not defined in nats/)"}`);
      lines.push(
        `    filter ${c.config.filter_subject ?? "(all)"} · ack wait ${seconds(c.config.ack_wait)} · max deliver ${c.config.max_deliver}`,
      );
      lines.push(
        `    pending ${c.num_pending} · ack pending ${c.num_ack_pending} · redelivered ${c.num_redelivered} · waiting pulls ${c.num_waiting}`,
      );
      lines.push(
        `    last delivery: consumer seq ${c.delivered.consumer_seq}, stream seq ${c.delivered.stream_seq}, ${ago(c.delivered.last_active, now)}`,
      );
      lines.push(
        `    ack floor: consumer seq ${c.ack_floor.consumer_seq}, stream seq ${c.ack_floor.stream_seq}, ${ago(c.ack_floor.last_active, now)}`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function seconds(nanos: number | undefined): string {
  return nanos === undefined ? "default" : `${nanos / 1e9} s`;
}

// The server sends last_active as an RFC 3339 time, although the client's types call it a number.
function ago(time: unknown, now: number): string {
  if (typeof time !== "string") return "never";
  const ms = now - Date.parse(time);
  return Number.isNaN(ms) ? "never" : `${(ms / 1000).toFixed(1)} s ago`;
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const { natsUrl } = loadConfig();
  const nc = await connect({ servers: natsUrl, name: "uitgo-streams" });
  const jsm = await jetstreamManager(nc);
  const show = async () => {
    const reports = await readStreams(jsm);
    if (args.has("--json")) console.log(JSON.stringify(reports, null, 2));
    else console.log(`${args.has("--watch") ? "\x1bc" : ""}NATS ${natsUrl} · ${new Date().toISOString()}\n\n${formatStreams(reports)}`);
  };
  await show();
  if (!args.has("--watch")) return nc.close();
  setInterval(() => void show().catch((err: unknown) => console.error(String(err))), 2_000);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();

// What KEDA relies on when it runs several replicas of a JetStream source: they can share the one durable
// pull consumer, and JetStream then hands each message to one of them. Two source processes (the bundle as
// deployed) on a scratch stream of the suite's NATS, each delivering to its own sink: every message arrives
// once, both replicas take a share, and the consumer ends with nothing pending or unacknowledged.
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { expect, test } from "vitest";
import { bundleFile } from "../../esbuild.config";
import { HEADERS } from "../../shared/cloudevents/spec";
import { ROOT } from "../../infra/manifests/names";
import { freePort, startBundle } from "../../harness/processes";

function sink(received: string[]): Promise<Server> {
  const server = createServer((req, res) => {
    received.push(String(req.headers[HEADERS.id]));
    req.resume();
    // Slow enough that one replica cannot take everything before the other pulls.
    setTimeout(() => res.writeHead(200).end(), 20);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

test("two replicas of a source share one durable consumer: every message delivered once, both take a share", async () => {
  const dir = mkdtempSync(join(tmpdir(), "uitgo-source-replicas-"));
  const bundle = join(dir, "index.mjs");
  await bundleFile(join(ROOT, "sources/jetstream/index.ts"), bundle);
  const nc = await connect({ servers: process.env.NATS_URL });
  const jsm = await jetstreamManager(nc);
  const stream = `UITGO_REPLICAS_${process.pid}`;
  const subject = `uitgo-replicas-${process.pid}`;
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  await jsm.consumers.add(stream, { durable_name: "shared", ack_policy: AckPolicy.Explicit, ack_wait: 30e9, max_ack_pending: 1000 });
  const received: [string[], string[]] = [[], []];
  const sinks = await Promise.all(received.map(sink));
  const replicas = await Promise.all(
    sinks.map(async (server) =>
      startBundle(bundle, {
        NATS_URL: process.env.NATS_URL!,
        JS_STREAM: stream,
        JS_CONSUMER: "shared",
        SOURCE_CONCURRENCY: "8",
        K_SINK: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        PORT: String(await freePort()),
      }),
    ),
  );
  try {
    const js = jetstream(nc);
    const total = 300;
    for (let i = 0; i < total; i++) await js.publish(`${subject}.created.vn`, JSON.stringify({ i }), { msgID: `m-${i}` });
    for (let waited = 0; received[0].length + received[1].length < total && waited < 20_000; waited += 100)
      await new Promise((r) => setTimeout(r, 100));
    const all = [...received[0], ...received[1]];
    expect(all.length, replicas.map((r) => r.output().slice(-1000)).join("\n")).toBe(total);
    expect(new Set(all).size, "no message went to both replicas").toBe(total);
    expect(received[0].length, "the first replica took a share").toBeGreaterThan(0);
    expect(received[1].length, "the second replica took a share").toBeGreaterThan(0);
    for (let waited = 0; waited < 5000; waited += 100) {
      const info = await jsm.consumers.info(stream, "shared");
      if (info.num_pending === 0 && info.num_ack_pending === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const info = await jsm.consumers.info(stream, "shared");
    expect({ pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered }).toEqual({
      pending: 0,
      ackPending: 0,
      redelivered: 0,
    });
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
    for (const server of sinks) server.close();
    await jsm.streams.delete(stream);
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

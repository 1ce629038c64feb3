// The JetStream source: an always-on process (a Knative ContainerSource) that delivers one durable
// consumer to K_SINK as CloudEvents. It serves probes and metrics on $PORT like every function.
import { Hono } from "hono";
import { Nats } from "../../shared/clients/nats";
import { loadSourceConfig } from "../../shared/config";
import { serveFunction } from "../../shared/http/server";
import { log } from "../../shared/log";
import { Delivery } from "./delivery";
import { watchExhausted } from "./exhausted";
import { JetStreamSource } from "./source";

const config = loadSourceConfig();
const nats = new Nats(config.natsUrl, config.serviceName, config.dependencyTimeoutMs);

await nats.connected;
const js = nats.jetstream();
const delivery = new Delivery(js, {
  sink: config.sink,
  ceOverrides: config.ceOverrides,
  internalSecret: config.internalSecret,
  sinkTimeoutMs: config.sinkTimeoutMs,
  publishTimeoutMs: config.dependencyTimeoutMs,
});
const source = new JetStreamSource(js, config.stream, config.consumer, delivery, config.concurrency, {
  max: config.batchMax,
  waitMs: config.batchWaitMs,
});
const jsm = await nats.manager();
watchExhausted(await nats.connected, jsm, js, config.stream, config.consumer, config.dependencyTimeoutMs);

await serveFunction(
  new Hono(),
  [
    { name: "nats", ping: () => nats.ping(), close: () => source.stop().then(() => nats.close()) },
    // Not ready until its consumer exists (NACK creates it on the cluster): a source that cannot pull is
    // not Ready, and neither is its ContainerSource, so `kubectl wait` and a rollout wait for it.
    { name: "consumer", ping: () => jsm.consumers.info(config.stream, config.consumer), close: async () => {} },
  ],
  config,
);
log("info", "source started", { stream: config.stream, consumer: config.consumer, sink: config.sink });
void source.run();

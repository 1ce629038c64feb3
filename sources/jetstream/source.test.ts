// The source bundle as its own process, against the real NATS server and a real HTTP sink.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { jetstreamManager, jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { bundlePath } from "../../esbuild.config";
import { DEAD_LETTER_HEADERS, deadLetterSubject } from "../../shared/events/dead-letter";
import { loadConfig } from "../../shared/config";
import { LOST_REASON } from "./exhausted";
import { freePort, startBundle, waitFor, type BundleProcess } from "../../tests/support/processes";

const STREAM = "SOURCE_TEST";
const CONSUMER = "sink-test";
const MAX_DELIVER = 3;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let sink: Server;
let sinkPort: number;
let received: Received[];
type Answer = number | { status: number; headers: Record<string, string> };
let answer: (request: Received) => Answer | Promise<Answer>;
let source: BundleProcess;
let sourcePort: number;
let sourceEnv: Record<string, string>;

beforeAll(async () => {
  nc = await connect({ servers: loadConfig().natsUrl });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  sinkPort = await freePort();
  sink = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", async () => {
      const request = { headers: req.headers, body, at: Date.now() };
      received.push(request);
      const given = await answer(request);
      if (typeof given === "number") res.writeHead(given).end();
      else res.writeHead(given.status, given.headers).end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(sinkPort, "127.0.0.1", resolve));
});

afterAll(async () => {
  await jsm.streams.delete(STREAM).catch(() => undefined);
  await nc.close();
  sink.close();
});

beforeEach(async () => {
  received = [];
  answer = () => 200;
  await jsm.streams.delete(STREAM).catch(() => undefined);
  await jsm.streams.add({ name: STREAM, subjects: ["sourcetest.>"] });
  await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: "explicit" as never, ack_wait: 5_000_000_000, max_deliver: MAX_DELIVER });
  await jsm.streams.purge("DEAD_LETTERS", { filter: deadLetterSubject(STREAM, CONSUMER) });
  sourcePort = await freePort();
  sourceEnv = {
    K_SINK: `http://127.0.0.1:${sinkPort}/`,
    JS_STREAM: STREAM,
    JS_CONSUMER: CONSUMER,
    PORT: String(sourcePort),
    K_CE_OVERRIDES: JSON.stringify({ extensions: { cluster: "test" } }),
  };
  source = startBundle(bundlePath("sources", "jetstream"), sourceEnv);
});

afterEach(async (context) => {
  await source.stop();
  if (context.task.result?.state === "fail") console.log(source.output());
});

async function publish(subject: string, body: unknown, msgID: string): Promise<void> {
  await js.publish(subject, JSON.stringify(body), { msgID });
}

async function consumerSettled(): Promise<boolean> {
  const info = await jsm.consumers.info(STREAM, CONSUMER);
  return info.num_pending === 0 && info.num_ack_pending === 0;
}

async function deadLetters() {
  const info = await jsm.streams.info("DEAD_LETTERS", { subjects_filter: deadLetterSubject(STREAM, CONSUMER) });
  return info.state.subjects?.[deadLetterSubject(STREAM, CONSUMER)] ?? 0;
}

describe("JetStream source", () => {
  it("delivers every message once as a binary-mode CloudEvent and acks it on 2xx", async () => {
    for (let i = 0; i < 20; i++) await publish("sourcetest.created.vn", { n: i }, `m-${i}`);
    await waitFor(consumerSettled, 10_000, "all messages acked");

    expect(received).toHaveLength(20);
    expect(received.map((r) => JSON.parse(r.body).n).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    const first = received.find((r) => r.headers["ce-id"] === "m-0")!;
    expect(first.headers).toMatchObject({
      "ce-specversion": "1.0",
      "ce-type": "sourcetest.created",
      "ce-subject": "sourcetest.created.vn",
      "ce-source": `nats://jetstream/${STREAM}`,
      "ce-natsdeliveries": "1",
      "ce-cluster": "test",
      "content-type": "application/json",
    });
    expect(Date.parse(String(first.headers["ce-time"]))).not.toBeNaN();
  });

  it("retries with a growing delay while the sink fails, then acks", async () => {
    answer = (request) => (request.headers["ce-natsdeliveries"] === "3" ? 200 : 503);
    await publish("sourcetest.created.vn", { n: 1 }, "flaky");
    await waitFor(consumerSettled, 15_000, "message acked");

    expect(received.map((r) => r.headers["ce-natsdeliveries"])).toEqual(["1", "2", "3"]);
    const gaps = [received[1]!.at - received[0]!.at, received[2]!.at - received[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(200);
    expect(gaps[1]).toBeGreaterThanOrEqual(450);
    expect(await deadLetters()).toBe(0);
  });

  it("waits as long as the sink's Retry-After asks before delivering again", async () => {
    answer = (request) => (request.headers["ce-natsdeliveries"] === "1" ? { status: 503, headers: { "Retry-After": "2" } } : 200);
    await publish("sourcetest.created.vn", { n: 1 }, "later");
    await waitFor(consumerSettled, 10_000, "message acked");

    expect(received).toHaveLength(2);
    expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(1900);
  });

  it("sends a refused (4xx) message to the dead-letter stream at once, with the reason", async () => {
    answer = () => 400;
    const h = headers();
    h.set("Uitgo-Trace", "abc");
    await js.publish("sourcetest.created.vn", JSON.stringify({ bad: true }), { msgID: "poison", headers: h });
    await waitFor(async () => (await deadLetters()) === 1, 10_000, "dead letter");
    await waitFor(consumerSettled, 5000, "poison message terminated");

    expect(received).toHaveLength(1);
    const dead = await jsm.streams.getMessage("DEAD_LETTERS", { last_by_subj: deadLetterSubject(STREAM, CONSUMER) });
    expect(dead!.json()).toEqual({ bad: true });
    expect(dead!.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(/^sink answered 400/);
    expect(dead!.header.get(DEAD_LETTER_HEADERS.subject)).toBe("sourcetest.created.vn");
    expect(dead!.header.get(DEAD_LETTER_HEADERS.deliveries)).toBe("1");
    expect(dead!.header.get("Uitgo-Trace")).toBe("abc");
    const metrics = await (await fetch(`http://127.0.0.1:${sourcePort}/metrics`)).text();
    expect(metrics).toContain(`uitgo_dead_letters_total{stream="${STREAM}",consumer="${CONSUMER}",cause="refused"} 1`);
  });

  it("dead-letters a message after its last allowed delivery instead of dropping it", async () => {
    answer = () => 500;
    await publish("sourcetest.created.vn", { n: 1 }, "doomed");
    await waitFor(async () => (await deadLetters()) === 1, 15_000, "dead letter");

    expect(received).toHaveLength(MAX_DELIVER);
    const dead = await jsm.streams.getMessage("DEAD_LETTERS", { last_by_subj: deadLetterSubject(STREAM, CONSUMER) });
    expect(dead!.header.get(DEAD_LETTER_HEADERS.deliveries)).toBe(String(MAX_DELIVER));
    expect(dead!.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(/^sink answered 500/);
    await waitFor(consumerSettled, 5000, "consumer settled");
  });

  it("dead-letters a message whose last delivery was lost with the source, from JetStream's advisory", async () => {
    answer = (request) => (request.headers["ce-natsdeliveries"] === String(MAX_DELIVER) ? new Promise<Answer>(() => {}) : 500);
    await publish("sourcetest.created.vn", { n: 1 }, "orphaned");
    await waitFor(async () => received.length === MAX_DELIVER, 15_000, "the last delivery");

    // The source dies in the middle of the last delivery; JetStream will not deliver the message again.
    await source.stop("SIGKILL");
    source = startBundle(bundlePath("sources", "jetstream"), sourceEnv);
    await waitFor(async () => (await deadLetters()) === 1, 15_000, "dead letter from the advisory");

    const dead = await jsm.streams.getMessage("DEAD_LETTERS", { last_by_subj: deadLetterSubject(STREAM, CONSUMER) });
    expect(dead!.json()).toEqual({ n: 1 });
    expect(dead!.header.get(DEAD_LETTER_HEADERS.reason)).toBe(LOST_REASON);
    expect(dead!.header.get(DEAD_LETTER_HEADERS.deliveries)).toBe(String(MAX_DELIVER));
  });

  it("on SIGTERM finishes the delivery in flight, acks it, and exits 0", async () => {
    answer = () => new Promise((resolve) => setTimeout(() => resolve(200), 1000));
    await publish("sourcetest.created.vn", { n: 1 }, "slow");
    await waitFor(async () => received.length === 1, 5000, "delivery started");

    expect(await source.stop("SIGTERM")).toBe(0);
    await waitFor(consumerSettled, 5000, "acked before exit");
    expect(received).toHaveLength(1);
  });
});

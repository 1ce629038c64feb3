// The source bundle as its own process, against the real NATS server and a real HTTP sink. A sink that fails in
// every way must never end the source: each test fails if the process exits before it is stopped.
import { join } from "node:path";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { jetstreamManager, jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { bundlePath } from "../../esbuild.config";
import { DEAD_LETTER_HEADERS, deadLetterSubject } from "../../shared/events/dead-letter";
import { loadConfig } from "../../shared/config";
import type { CloudEvent } from "../../shared/cloudevents/event";
import { BATCH_CONTENT_TYPE, EXTENSIONS, HEADERS, SPEC_VERSION, headerOf } from "../../shared/cloudevents/spec";
import { SENDER_HEADER } from "../../shared/http/internal-sender";
import { LOST_REASON } from "./exhausted";
import { ProcessWatch, testLogDir } from "../../tests/support/process-watch";
import { freePort, startBundle, waitFor, type BundleProcess } from "../../harness/processes";
import { consumerBacklog } from "../../harness/streams";

const STREAM = "SOURCE_TEST";
const SENDER_SECRET = "source-test-secret";
const CONSUMER = "sink-test";
const MAX_DELIVER = 3;
const CONSUMER_CONFIG = { durable_name: CONSUMER, ack_policy: "explicit" as never, ack_wait: 5_000_000_000, max_deliver: MAX_DELIVER };

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
let watch = new ProcessWatch();
let started = 0;

function startSource(env: Record<string, string>): BundleProcess {
  return startBundle(bundlePath("sources", "jetstream"), env, { watch, logFile: join(testLogDir(), `source-${++started}.log`) });
}

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
  await jsm.consumers.add(STREAM, CONSUMER_CONFIG);
  await jsm.streams.purge("DEAD_LETTERS", { filter: deadLetterSubject(STREAM, CONSUMER) });
  sourcePort = await freePort();
  sourceEnv = {
    K_SINK: `http://127.0.0.1:${sinkPort}/`,
    JS_STREAM: STREAM,
    JS_CONSUMER: CONSUMER,
    PORT: String(sourcePort),
    K_CE_OVERRIDES: JSON.stringify({ extensions: { cluster: "test" } }),
    INTERNAL_SECRET: SENDER_SECRET,
  };
  watch = new ProcessWatch();
  started = 0;
  source = startSource(sourceEnv);
});

afterEach(async (context) => {
  await source.stop();
  if (context.task.result?.state === "fail") console.log(source.output());
  watch.check();
});

/** Stops the source and gives the consumer a fresh start, without the pull requests of the source that is gone. */
async function stopSource(): Promise<void> {
  await source.stop();
  await jsm.consumers.delete(STREAM, CONSUMER);
  await jsm.consumers.add(STREAM, CONSUMER_CONFIG);
}

/** The source again, with batching: `max` events per request at most, the first waiting `waitMs` for the others. */
function batchingSource(max: number, waitMs: number): void {
  source = startSource({ ...sourceEnv, SOURCE_BATCH_MAX: String(max), SOURCE_BATCH_WAIT_MS: String(waitMs) });
}

const isBatch = (request: Received) => request.headers["content-type"] === BATCH_CONTENT_TYPE;
const eventsOf = (request: Received) => JSON.parse(request.body) as CloudEvent[];

async function publish(subject: string, body: unknown, msgID: string): Promise<void> {
  await js.publish(subject, JSON.stringify(body), { msgID });
}

const traced = (n: number) => `00-${String(n).padStart(32, "a")}-${"b".repeat(16)}-01`;

/** A message whose headers carry a trace context, as a traced publisher's do (shared/events/publish.ts). */
async function publishTraced(n: number): Promise<void> {
  const carried = headers();
  carried.set("traceparent", traced(n));
  carried.set("tracestate", `uitgo=${n}`);
  await js.publish("sourcetest.created.vn", JSON.stringify({ n }), { msgID: `t-${n}`, headers: carried });
}

async function consumerSettled(): Promise<boolean> {
  return (await consumerBacklog(jsm, STREAM, CONSUMER)) === 0;
}

async function deadLetters() {
  const info = await jsm.streams.info("DEAD_LETTERS", { subjects_filter: deadLetterSubject(STREAM, CONSUMER) });
  return info.state.subjects?.[deadLetterSubject(STREAM, CONSUMER)] ?? 0;
}

/** A sink that answers `status` to every request carrying an event whose data has `flag` set, alone or in a batch. */
function failWhenCarrying(flag: string, status: number): (request: Received) => Answer {
  const atFault = (data: unknown) => (data as Record<string, unknown>)[flag] === true;
  return (request) => {
    const carried = isBatch(request) ? eventsOf(request).map((event) => event.data) : [JSON.parse(request.body) as unknown];
    return carried.some(atFault) ? status : 200;
  };
}

describe("JetStream source", () => {
  it("delivers every message once as a binary-mode CloudEvent and acks it on 2xx", async () => {
    for (let i = 0; i < 20; i++) await publish("sourcetest.created.vn", { n: i }, `m-${i}`);
    await waitFor(consumerSettled, 10_000, "all messages acked");

    expect(received).toHaveLength(20);
    expect(received.filter(isBatch), "batching is off unless configured").toHaveLength(0);
    expect(received.map((r) => JSON.parse(r.body).n).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    const first = received.find((r) => r.headers[HEADERS.id] === "m-0")!;
    expect(first.headers).toMatchObject({
      [HEADERS.specversion]: SPEC_VERSION,
      [HEADERS.type]: "sourcetest.created",
      [HEADERS.subject]: "sourcetest.created.vn",
      [HEADERS.source]: `nats://jetstream/${STREAM}`,
      [HEADERS.deliveries]: "1",
      [headerOf("cluster")]: "test",
      "content-type": "application/json",
    });
    expect(Date.parse(String(first.headers[HEADERS.time]))).not.toBeNaN();
  });

  it("shows the sink its secret, and takes a 401 as not delivered: retried, never dead-lettered", async () => {
    answer = (request) => (request.headers[HEADERS.deliveries] === "2" ? 200 : 401);
    await publish("sourcetest.created.vn", { n: 1 }, "unknown-sender");
    await waitFor(consumerSettled, 15_000, "message acked");

    expect(received.map((r) => r.headers[HEADERS.deliveries])).toEqual(["1", "2"]);
    expect(received.map((r) => r.headers[SENDER_HEADER])).toEqual([SENDER_SECRET, SENDER_SECRET]);
    expect(await deadLetters()).toBe(0);
  });

  it("retries with a growing delay while the sink fails, then acks", async () => {
    answer = (request) => (request.headers[HEADERS.deliveries] === "3" ? 200 : 503);
    await publish("sourcetest.created.vn", { n: 1 }, "flaky");
    await waitFor(consumerSettled, 15_000, "message acked");

    expect(received.map((r) => r.headers[HEADERS.deliveries])).toEqual(["1", "2", "3"]);
    const gaps = [received[1]!.at - received[0]!.at, received[2]!.at - received[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(200);
    expect(gaps[1]).toBeGreaterThanOrEqual(450);
    expect(await deadLetters()).toBe(0);
  });

  it("waits as long as the sink's Retry-After asks before delivering again", async () => {
    answer = (request) => (request.headers[HEADERS.deliveries] === "1" ? { status: 503, headers: { "Retry-After": "2" } } : 200);
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
    answer = (request) => (request.headers[HEADERS.deliveries] === String(MAX_DELIVER) ? new Promise<Answer>(() => {}) : 500);
    await publish("sourcetest.created.vn", { n: 1 }, "orphaned");
    await waitFor(async () => received.length === MAX_DELIVER, 15_000, "the last delivery");

    // The source dies in the middle of the last delivery; JetStream will not deliver the message again.
    await source.stop("SIGKILL");
    source = startSource(sourceEnv);
    await waitFor(async () => (await deadLetters()) === 1, 15_000, "dead letter from the advisory");

    const dead = await jsm.streams.getMessage("DEAD_LETTERS", { last_by_subj: deadLetterSubject(STREAM, CONSUMER) });
    expect(dead!.json()).toEqual({ n: 1 });
    expect(dead!.header.get(DEAD_LETTER_HEADERS.reason)).toBe(LOST_REASON);
    expect(dead!.header.get(DEAD_LETTER_HEADERS.deliveries)).toBe(String(MAX_DELIVER));
  });

  it("carries each message's trace context from its NATS headers into its CloudEvent (ce-traceparent, ce-tracestate)", async () => {
    // The source here runs without tracing configured: it passes the publisher's context on unchanged.
    await publishTraced(1);
    await publish("sourcetest.created.vn", { n: 2 }, "untraced");
    await waitFor(consumerSettled, 10_000, "both acked");
    const alone = received.find((r) => r.headers[HEADERS.id] === "t-1")!;
    expect(alone.headers).toMatchObject({ [HEADERS.traceparent]: traced(1), [HEADERS.tracestate]: "uitgo=1" });
    expect(received.find((r) => r.headers[HEADERS.id] === "untraced")!.headers).not.toHaveProperty(HEADERS.traceparent);
  });

  describe("with batching on (CloudEvents batched content mode)", () => {
    it("delivers the waiting messages in one request, as structured-mode events in stream order, and acks them all", async () => {
      await stopSource();
      for (let i = 0; i < 10; i++) await publish("sourcetest.created.vn", { n: i }, `m-${i}`);
      batchingSource(10, 5000);
      await waitFor(consumerSettled, 10_000, "all messages acked");

      // Ten waiting messages fill the batch: it goes at once, without waiting out its 5 s.
      expect(received).toHaveLength(1);
      const [request] = received;
      expect(request!.headers["content-type"]).toBe(BATCH_CONTENT_TYPE);
      expect(request!.headers).not.toHaveProperty(HEADERS.id);
      const events = eventsOf(request!);
      expect(events.map((event) => event.id)).toEqual([...Array(10).keys()].map((i) => `m-${i}`));
      expect(events.map((event) => event.data)).toEqual([...Array(10).keys()].map((n) => ({ n })));
      expect(events[0]).toEqual({
        specversion: "1.0",
        id: "m-0",
        source: `nats://jetstream/${STREAM}`,
        type: "sourcetest.created",
        subject: "sourcetest.created.vn",
        time: expect.any(String),
        datacontenttype: "application/json",
        data: { n: 0 },
        [EXTENSIONS.deliveries]: "1",
        cluster: "test",
      });
      expect(Date.parse(events[0]!.time!)).not.toBeNaN();
    });

    it("carries each message's trace context into its own event of the batch", async () => {
      await stopSource();
      for (const n of [3, 4]) await publishTraced(n);
      batchingSource(2, 5000);
      await waitFor(consumerSettled, 10_000, "the batch acked");
      const events = eventsOf(received.find(isBatch)!);
      expect(events.map((event) => [event[EXTENSIONS.traceparent], event[EXTENSIONS.tracestate]])).toEqual([
        [traced(3), "uitgo=3"],
        [traced(4), "uitgo=4"],
      ]);
    });

    it("sends a batch that is not full once its first message has waited", async () => {
      await stopSource();
      batchingSource(100, 300);
      const started = Date.now();
      for (let i = 0; i < 3; i++) await publish("sourcetest.created.vn", { n: i }, `few-${i}`);
      await waitFor(consumerSettled, 10_000, "all messages acked");

      expect(received).toHaveLength(1);
      expect(eventsOf(received[0]!).map((event) => event.id)).toEqual(["few-0", "few-1", "few-2"]);
      expect(received[0]!.at - started).toBeGreaterThanOrEqual(250);
    });

    it("delivers a refused batch again one message at a time: only the refused one is dead-lettered, the others acked", async () => {
      answer = failWhenCarrying("bad", 400);
      await stopSource();
      for (let i = 0; i < 5; i++) await publish("sourcetest.created.vn", i === 2 ? { n: i, bad: true } : { n: i }, `r-${i}`);
      batchingSource(5, 5000);
      await waitFor(async () => (await deadLetters()) === 1, 10_000, "dead letter");
      await waitFor(consumerSettled, 5000, "the others acked");

      expect(received.map((request) => (isBatch(request) ? "batch" : request.headers[HEADERS.id]))).toEqual([
        "batch",
        ...["r-0", "r-1", "r-2", "r-3", "r-4"].map(() => expect.stringMatching(/^r-\d$/)),
      ]);
      expect(
        received
          .slice(1)
          .map((request) => request.headers[HEADERS.id])
          .sort(),
      ).toEqual(["r-0", "r-1", "r-2", "r-3", "r-4"]);
      // Delivered alone as the same delivery, not as a redelivery.
      expect(received.slice(1).map((request) => request.headers[HEADERS.deliveries])).toEqual(Array(5).fill("1"));
      const dead = await jsm.streams.getMessage("DEAD_LETTERS", { last_by_subj: deadLetterSubject(STREAM, CONSUMER) });
      expect(dead!.json()).toEqual({ n: 2, bad: true });
      expect(dead!.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(/^sink answered 400/);
    });

    it("delivers a batch that failed with 500 again one message at a time: the one at fault fails alone", async () => {
      answer = failWhenCarrying("poison", 500);
      await stopSource();
      for (let i = 0; i < 4; i++) await publish("sourcetest.created.vn", i === 1 ? { n: i, poison: true } : { n: i }, `p-${i}`);
      batchingSource(4, 5000);
      await waitFor(async () => (await deadLetters()) === 1, 20_000, "dead letter");
      await waitFor(consumerSettled, 5000, "the others acked");

      // The three others were taken when delivered alone the first time; only the poison one came back.
      const alone = received.filter((request) => !isBatch(request)).map((request) => request.headers[HEADERS.id]);
      expect(alone.filter((id) => id !== "p-1").sort()).toEqual(["p-0", "p-2", "p-3"]);
      expect(alone.filter((id) => id === "p-1").length).toBeGreaterThanOrEqual(1);
      const dead = await jsm.streams.getMessage("DEAD_LETTERS", { last_by_subj: deadLetterSubject(STREAM, CONSUMER) });
      expect(dead!.json()).toEqual({ n: 1, poison: true });
    });

    it("delivers a message whose data is not the JSON it claims alone, in binary mode, bytes untouched", async () => {
      await stopSource();
      await js.publish("sourcetest.created.vn", '{"n": ', { msgID: "truncated" });
      await publish("sourcetest.created.vn", { n: 1 }, "whole");
      batchingSource(2, 5000);
      await waitFor(async () => received.length === 2 && consumerSettled(), 10_000, "both delivered");

      const alone = received.find((request) => !isBatch(request))!;
      expect(alone.headers[HEADERS.id]).toBe("truncated");
      expect(alone.body).toBe('{"n": ');
      expect(eventsOf(received.find(isBatch)!).map((event) => event.id)).toEqual(["whole"]);
    });

    it("redelivers the whole batch no sooner than the sink's Retry-After when it answers 503", async () => {
      answer = (request) =>
        eventsOf(request).some((event) => event[EXTENSIONS.deliveries] === "1") ? { status: 503, headers: { "Retry-After": "2" } } : 200;
      await stopSource();
      for (let i = 0; i < 4; i++) await publish("sourcetest.created.vn", { n: i }, `later-${i}`);
      batchingSource(4, 1000);
      await waitFor(consumerSettled, 15_000, "messages acked");

      const [first, ...again] = received;
      expect(eventsOf(first!).map((event) => event.id)).toEqual(["later-0", "later-1", "later-2", "later-3"]);
      const redelivered = again.flatMap(eventsOf);
      expect(redelivered.map((event) => event.id).sort()).toEqual(["later-0", "later-1", "later-2", "later-3"]);
      expect(redelivered.map((event) => event[EXTENSIONS.deliveries])).toEqual(Array(4).fill("2"));
      expect(again[0]!.at - first!.at).toBeGreaterThanOrEqual(1900);
      expect(await deadLetters()).toBe(0);
    });

    it("on SIGTERM delivers the batch it is filling without waiting it out, acks it, and exits 0", async () => {
      await stopSource();
      batchingSource(100, 60_000);
      for (let i = 0; i < 3; i++) await publish("sourcetest.created.vn", { n: i }, `last-${i}`);
      await waitFor(async () => (await jsm.consumers.info(STREAM, CONSUMER)).num_ack_pending === 3, 5000, "the batch taken");

      expect(await source.stop("SIGTERM")).toBe(0);
      await waitFor(consumerSettled, 5000, "acked before exit");
      expect(received.flatMap(eventsOf).map((event) => event.id)).toEqual(["last-0", "last-1", "last-2"]);
    });

    it("dead-letters each message of a batch the sink keeps failing after its last allowed delivery", async () => {
      answer = () => 502;
      await stopSource();
      for (let i = 0; i < 3; i++) await publish("sourcetest.created.vn", { n: i }, `doomed-${i}`);
      batchingSource(3, 1000);
      await waitFor(async () => (await deadLetters()) === 3, 20_000, "dead letters");
      await waitFor(consumerSettled, 5000, "consumer settled");

      const deliveries = received.flatMap(eventsOf).map((event) => event[EXTENSIONS.deliveries]);
      expect(deliveries.filter((count) => count === String(MAX_DELIVER))).toHaveLength(3);
      expect(received.every(isBatch)).toBe(true);
    });
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

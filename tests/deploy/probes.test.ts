// The probe Knative asks (/health/serving) against the one people and the local stack ask
// (/health/readiness): only the start waits for the stores, so a store outage on a running pod leaves it in
// service answering its own 503 + Retry-After, rather than out of service behind Knative's activator. And a
// JetStream source is not ready (nor its ContainerSource) until its consumer exists.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { createRootApp } from "../../shared/http/server";
import type { DependencyHandle } from "../../shared/clients/dependency";
import { bundleFile } from "../../esbuild.config";
import { ROOT } from "../../infra/manifests/names";
import { freePort, startBundle } from "../../harness/processes";
import { containers, ofKind, readFolder } from "./manifests";

function store(): DependencyHandle & { up: boolean } {
  const dep = {
    name: "redis",
    up: false,
    ping: async () => {
      if (!dep.up) throw new Error("down");
    },
    close: async () => {},
  };
  return dep;
}

describe("readiness on Knative", () => {
  test("/health/serving waits for every store once, then stays 200 through an outage that /health/readiness reports", async () => {
    const redis = store();
    let draining = false;
    const root = createRootApp(new Hono(), [redis], 200, { isDraining: () => draining });
    const get = async (path: string) => (await root.request(path)).status;

    expect(await get("/health/serving"), "a cold pod gets no request before its stores answer").toBe(503);
    redis.up = true;
    expect(await get("/health/serving")).toBe(200);
    redis.up = false;
    expect(await get("/health/serving"), "a store blip keeps the pod in service").toBe(200);
    expect(await get("/health/readiness"), "readiness still says the store is down").toBe(503);
    draining = true;
    expect(await get("/health/serving"), "a draining pod leaves the service").toBe(503);
  });

  test("every Knative Service's readiness probe is /health/serving", () => {
    for (const service of ofKind(readFolder("knative"), "Service")) {
      expect(containers(service)[0].readinessProbe.httpGet.path, service.metadata.name).toBe("/health/serving");
    }
  });
});

describe("a JetStream source's readiness", () => {
  // On the suite's NATS, with a scratch stream of its own so that nothing else's messages are pulled.
  test("is 503 until its consumer exists, then 200", async () => {
    const dir = mkdtempSync(join(tmpdir(), "uitgo-source-probe-"));
    const bundle = join(dir, "index.mjs");
    await bundleFile(join(ROOT, "sources/jetstream/index.ts"), bundle);
    const nc = await connect({ servers: process.env.NATS_URL });
    const jsm = await jetstreamManager(nc);
    const stream = `UITGO_PROBE_${process.pid}`;
    await jsm.streams.add({ name: stream, subjects: [`uitgo-probe-${process.pid}.>`] });
    const port = await freePort();
    const source = startBundle(bundle, {
      NATS_URL: process.env.NATS_URL!,
      JS_STREAM: stream,
      JS_CONSUMER: "probe",
      K_SINK: "http://127.0.0.1:9",
      PORT: String(port),
    });
    const readiness = async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/health/readiness`)).status;
      } catch {
        return 0;
      }
    };
    try {
      const until = async (status: number) => {
        for (let i = 0; i < 100 && (await readiness()) !== status; i++) await new Promise((r) => setTimeout(r, 100));
        return readiness();
      };
      expect(await until(503), source.output()).toBe(503);
      await jsm.consumers.add(stream, { durable_name: "probe", ack_policy: AckPolicy.Explicit });
      expect(await until(200), source.output()).toBe(200);
    } finally {
      await source.stop();
      await jsm.streams.delete(stream);
      await nc.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

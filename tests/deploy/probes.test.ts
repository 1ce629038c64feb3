// The probe Knative asks (/health/serving) against the one people and the local stack ask
// (/health/readiness): only the start waits for the stores, so a store outage on a running pod leaves it in
// service answering its own 503 + Retry-After, rather than out of service behind Knative's activator.
import { Hono } from "hono";
import { describe, expect, test } from "vitest";
import { createRootApp, type DependencyHandle } from "../../shared/http/server";
import { readFolder, ofKind, containers } from "./manifests";

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

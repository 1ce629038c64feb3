// The CloudEvent receivers are internal: the local entry point never reaches them, their processes listen on loopback
// only, they refuse any sender without the source's and schedules' secret, and on Knative they are cluster-local,
// behind a NetworkPolicy, with the secret given to their senders and to nobody else. Against the real stack.
import { connect as connectTcp } from "node:net";
import { networkInterfaces } from "node:os";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { isInternal } from "../infra/manifests/internal-functions";
import { renderAll } from "../infra/manifests/render";
import { internalSecretFor, pingSourcesWithSecret } from "../infra/manifests/secret";
import type { Stack } from "../local/stack";
import { ROUTED_FUNCTIONS } from "../local/routes";
import { FUNCTIONS } from "../esbuild.config";
import { binaryHeaders } from "../shared/cloudevents/http-binding";
import { HEADERS } from "../shared/cloudevents/spec";
import { DRIVER_LOCATION_TYPE, PING_TYPE, TRIP_DEAD_LETTER_TYPE, TRIP_REQUESTED_TYPE } from "../shared/cloudevents/types";
import { SCHEDULES } from "../shared/events/schedules";
import type { TripEvent } from "../shared/events/trip-events";
import { SENDER_EXTENSION, SENDER_HEADER } from "../shared/http/internal-sender";
import type { Trip } from "../shared/trips/trip";
import { bearer } from "./support/auth";
import { expectError } from "./support/http";
import { HCMC, tripRequest } from "../harness/places";
import { waitFor } from "../harness/processes";
import { stackPerFile } from "./support/stack-per-file";

const INTERNAL = ["assign-driver", "record-locations", "settle-dead-letters"];

const run = stackPerFile(27480);
const { tables } = run;
let stack: Stack;
beforeEach(() => {
  stack = run.stack;
});

async function book(riderId: string): Promise<Trip> {
  const response = await fetch(`${stack.gatewayUrl}/v1/trips`, {
    method: "POST",
    headers: { ...bearer("rider", riderId), "content-type": "application/json" },
    body: JSON.stringify(tripRequest(HCMC)),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as Trip;
}

async function statusOf(trip: Trip): Promise<string> {
  const response = await fetch(`${stack.gatewayUrl}/v1/trips/${trip.id}`, { headers: bearer("rider", trip.riderId) });
  return ((await response.json()) as Trip).status;
}

/** What an attacker would forge for each receiver: a dead letter ending `trip`, a location for the history, a booking. */
function forgeries(trip: Trip) {
  const event = (type: string): TripEvent => ({ schemaVersion: 1, type: type as TripEvent["type"], time: new Date().toISOString(), trip });
  const ce = (type: string) => binaryHeaders({ id: `forged-${Math.random()}`, source: "forged", type }, "application/json");
  return [
    {
      name: "settle-dead-letters",
      path: "/",
      headers: { ...ce(TRIP_DEAD_LETTER_TYPE), [HEADERS.subject]: "deadletter.TRIPS.assign-driver" },
      body: JSON.stringify(event(TRIP_REQUESTED_TYPE)),
    },
    { name: "settle-dead-letters", path: "/forgotten-trips", headers: ce(PING_TYPE), body: "{}" },
    {
      name: "record-locations",
      path: "/",
      headers: ce(DRIVER_LOCATION_TYPE),
      body: JSON.stringify({
        schemaVersion: 1,
        type: DRIVER_LOCATION_TYPE,
        time: new Date().toISOString(),
        location: {
          driverId: "forged-driver",
          region: "vn",
          status: "available",
          lat: HCMC.lat,
          lng: HCMC.lng,
          recordedAt: new Date().toISOString(),
        },
      }),
    },
    { name: "assign-driver", path: "/", headers: ce(TRIP_REQUESTED_TYPE), body: JSON.stringify(event(TRIP_REQUESTED_TYPE)) },
  ];
}

describe("the local entry point", () => {
  it("routes no host name of an internal function, in any spelling or namespace, with any path: a forged event changes nothing", async () => {
    const waiting = await book("rider-waiting");
    const spellings = (name: string) => [
      `${name}.default.127.0.0.1.sslip.io`,
      `${name.toUpperCase()}.DEFAULT.127.0.0.1.SSLIP.IO`,
      `${name}.default.127.0.0.1.sslip.io.`,
      `${name}.uitgo.127.0.0.1.sslip.io:${stack.ports.gateway}`,
      `${name}.default.127.0.0.1.sslip.io.:80`,
    ];
    for (const forged of forgeries(waiting)) {
      for (const host of spellings(forged.name)) {
        const label = `${host} ${forged.path}`;
        const response = await fetch(`${stack.gatewayUrl}${forged.path}`, {
          method: "POST",
          headers: { ...forged.headers, host },
          body: forged.body,
        });
        await expectError(response, 404, "not_found", label);
        const metrics = await fetch(`${stack.gatewayUrl}/metrics`, { headers: { host } });
        await expectError(metrics, 404, "not_found", `${host} /metrics`);
      }
    }
    // Nor by path: the entry point routes only the public API.
    for (const path of ["/", "/forgotten-trips", "/metrics"]) {
      await expectError(await fetch(`${stack.gatewayUrl}${path}`, { method: "POST", body: "{}" }), 404, "not_found", path);
    }
    expect(await statusOf(waiting)).toBe("requested");
    expect(await tables.count()).toBe(0);
  });

  it("still routes every public function by its host name", async () => {
    for (const name of ROUTED_FUNCTIONS) {
      const response = await fetch(`${stack.gatewayUrl}/health/liveness`, { headers: { host: `${name}.default.127.0.0.1.sslip.io` } });
      expect(response.status, name).toBe(200);
    }
  });
});

describe("the internal functions' own ports", () => {
  it("refuse a sender without the secret, or with another, before reading the body: 401 and nothing changed", async () => {
    const waiting = await book("rider-waiting");
    for (const forged of forgeries(waiting)) {
      for (const secret of [undefined, "", "guess", `${stack.internalSecret}x`, stack.internalSecret.slice(1)]) {
        const headers: Record<string, string> = { ...forged.headers, ...(secret !== undefined && { [SENDER_HEADER]: secret }) };
        const response = await fetch(`http://127.0.0.1:${stack.ports[forged.name]}${forged.path}`, {
          method: "POST",
          headers,
          body: forged.body,
        });
        await expectError(response, 401, "unknown_sender", `${forged.name} ${forged.path} with ${JSON.stringify(secret)}`);
      }
    }
    expect(await statusOf(waiting)).toBe("requested");
    expect(await tables.count()).toBe(0);
  });

  it("take the source's deliveries and the schedule's ping: a booking is matched, a location recorded, the sweep runs", async () => {
    const driver = await fetch(`${stack.gatewayUrl}/v1/drivers/me/location`, {
      method: "POST",
      headers: { ...bearer("driver", "driver-near"), "content-type": "application/json" },
      body: JSON.stringify({ ...HCMC, status: "available" }),
    });
    expect(driver.status).toBe(202);
    const trip = await book("rider-matched");
    await waitFor(async () => (await statusOf(trip)) === "assigned", 10_000, "the source to deliver the booking to assign-driver");
    await waitFor(async () => (await tables.count()) === 1, 10_000, "the source to deliver the location to record-locations");

    const [schedule] = SCHEDULES;
    const ping = await fetch(`http://127.0.0.1:${stack.ports[schedule!.function]}${schedule!.path}`, {
      method: "POST",
      headers: {
        ...binaryHeaders({ id: "ping-1", source: "test", type: PING_TYPE }, "application/json"),
        [SENDER_HEADER]: stack.internalSecret,
      },
      body: "{}",
    });
    expect(ping.status).toBe(200);
    expect(await ping.json()).toEqual({ outcomes: {} });
  });

  it("serve probes and metrics without the secret (the kubelet and Prometheus do not have it)", async () => {
    for (const name of INTERNAL) {
      expect((await fetch(`http://127.0.0.1:${stack.ports[name]}/health/readiness`)).status, name).toBe(200);
      expect((await fetch(`http://127.0.0.1:${stack.ports[name]}/metrics`)).status, name).toBe(200);
    }
  });
});

describe("listening", () => {
  // Every address of this machine other than loopback: where someone on its network would connect.
  const outside = Object.values(networkInterfaces())
    .flat()
    .filter((address) => address && !address.internal && address.family === "IPv4")
    .map((address) => address!.address);

  function reachable(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connectTcp({ host, port, timeout: 1000 });
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
      socket.once("timeout", () => (socket.destroy(), resolve(false)));
    });
  }

  it.skipIf(outside.length === 0)("every function and source, and the entry point, takes connections on loopback only", async () => {
    for (const [name, port] of Object.entries(stack.ports)) {
      expect(await reachable("127.0.0.1", port), `${name} on loopback`).toBe(true);
      for (const address of outside) expect(await reachable(address, port), `${name} on ${address}:${port}`).toBe(false);
    }
  });
});

describe("on Knative", () => {
  let docs: Record<string, any>[];
  beforeAll(async () => {
    const files = await renderAll();
    docs = [...files]
      .filter(([path]) => path.startsWith("knative/"))
      .flatMap(([, text]) => parseAllDocuments(text).map((d) => d.toJSON() as Record<string, any>));
  }, 60_000);

  const envOf = (container: { env: { name: string; value?: string; valueFrom?: unknown }[] }) =>
    Object.fromEntries(container.env.map((e) => [e.name, e]));
  const fromSecret = { valueFrom: { secretKeyRef: { name: "uitgo-secrets", key: "INTERNAL_SECRET" } } };

  it("the internal functions are cluster-local and get the secret; the public ones are neither", () => {
    expect(FUNCTIONS.filter(isInternal).sort()).toEqual([...INTERNAL].sort());
    for (const service of docs.filter((d) => d.kind === "Service")) {
      const name = service.metadata.name as string;
      const env = envOf(service.spec.template.spec.containers[0]);
      expect(env.HOST, name).toEqual({ name: "HOST", value: "0.0.0.0" });
      if (INTERNAL.includes(name)) {
        expect(service.metadata.labels["networking.knative.dev/visibility"], name).toBe("cluster-local");
        expect(env.INTERNAL_SECRET, name).toMatchObject(fromSecret);
      } else {
        expect(service.metadata.labels["networking.knative.dev/visibility"], name).toBeUndefined();
        expect(env.INTERNAL_SECRET, name).toBeUndefined();
      }
    }
  });

  it("every JetStream source sends the secret, and every PingSource is applied carrying it", () => {
    const sources = docs.filter((d) => d.kind === "ContainerSource");
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources)
      expect(envOf(source.spec.template.spec.containers[0]).INTERNAL_SECRET, source.metadata.name).toMatchObject(fromSecret);

    const jwt = "a-jwt-secret";
    const pings = parseAllDocuments(pingSourcesWithSecret(`JWT_SECRET=${jwt}\npassword.vn=x\n`)).map((d) => d.toJSON());
    expect(pings.map((p) => p.metadata.name).sort()).toEqual(SCHEDULES.map((s) => s.name).sort());
    for (const ping of pings) expect(ping.spec.ceOverrides.extensions).toEqual({ [SENDER_EXTENSION]: internalSecretFor(jwt) });
    // The committed PingSource carries no secret: it is in git.
    for (const ping of docs.filter((d) => d.kind === "PingSource")) expect(ping.spec.ceOverrides).toBeUndefined();
    expect(internalSecretFor(jwt)).not.toBe(internalSecretFor(`${jwt}x`));
  });

  it("a NetworkPolicy admits to the internal functions' pods only the sources, Knative, the PingSource adapter and Prometheus", () => {
    const [policy] = docs.filter((d) => d.kind === "NetworkPolicy");
    expect(policy!.spec.podSelector.matchExpressions).toEqual([{ key: "serving.knative.dev/service", operator: "In", values: INTERNAL }]);
    expect(policy!.spec.policyTypes).toEqual(["Ingress"]);
    const from = policy!.spec.ingress[0].from as Record<string, any>[];
    expect(from.flatMap((peer) => peer.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"] ?? []).sort()).toEqual(
      ["knative-eventing", "knative-serving", "kourier-system", "monitoring"].sort(),
    );
    expect(from.filter((peer) => peer.podSelector)).toEqual([
      { podSelector: { matchExpressions: [{ key: "uitgo.dev/source", operator: "Exists" }] } },
    ]);
  });
});

// The deploy manifests, checked without a cluster: they are what the code implies (nothing missing, nothing
// stale), they validate against Knative's, NACK's, CloudNativePG's and Kubernetes' schemas, and the NACK
// resources say what the JSON files under nats/ say.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Service as KnativeService } from "@kubernetes-models/knative/serving.knative.dev/v1";
import { ContainerSource, PingSource } from "@kubernetes-models/knative/sources.knative.dev/v1";
import { Ajv, type AnySchema } from "ajv";
import { Deployment } from "kubernetes-models/apps/v1";
import { ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { FUNCTIONS } from "../../esbuild.config";
import { CONSUMER_FIELDS, STREAM_FIELDS } from "../../infra/manifests/nack";
import { ROOT } from "../../infra/manifests/names";
import { drift, renderAll } from "../../infra/manifests/render";
import { secretManifest } from "../../infra/manifests/secret";
import { CONSUMERS, STREAMS } from "../../shared/events/definitions";
import { SCHEDULES } from "../../shared/events/schedules";
import { REGIONS } from "../../shared/regions";
import {
  closed,
  containers,
  ofKind,
  parseGoDuration,
  parseText,
  readFolder,
  readYaml,
  sampleSecretInput,
  type Manifest,
} from "./manifests";

let rendered: Map<string, string>;
beforeAll(async () => {
  rendered = await renderAll();
}, 60_000);

const knative = () => readFolder("knative");
const nack = () => readFolder("nats/nack");
const postgres = () => readYaml("infra/data/postgres.yaml");

describe("manifests are what the code implies", () => {
  test("the committed files match a fresh render, with nothing missing or left over", () => {
    expect(drift(rendered), "run `npm run -s manifests` and commit the result").toEqual([]);
  });

  test("every function has a Knative Service and nothing else does", () => {
    expect(
      ofKind(knative(), "Service")
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual([...FUNCTIONS].sort());
  });

  test("every consumer has a ContainerSource whose sink is the function of the same name", () => {
    const sources = ofKind(knative(), "ContainerSource");
    expect(sources).toHaveLength(CONSUMERS.length);
    for (const { stream, config } of CONSUMERS) {
      const source = sources.find((s) => s.metadata.name === `source-${config.durable_name}`);
      expect(source, `no ContainerSource for ${stream}/${config.durable_name}`).toBeDefined();
      expect(source!.spec.sink.ref).toEqual({ apiVersion: "serving.knative.dev/v1", kind: "Service", name: config.durable_name });
      const env = Object.fromEntries(containers(source!)[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
      expect(env).toMatchObject({ JS_STREAM: stream, JS_CONSUMER: config.durable_name });
    }
  });

  test("every schedule has a PingSource that pings its function's route, and nothing else does", () => {
    const pings = ofKind(knative(), "PingSource");
    expect(pings.map((p) => p.metadata.name).sort()).toEqual(SCHEDULES.map((s) => s.name).sort());
    for (const schedule of SCHEDULES) {
      const ping = pings.find((p) => p.metadata.name === schedule.name)!;
      expect(FUNCTIONS).toContain(schedule.function);
      expect(ping.spec.schedule).toBe(`*/${schedule.everyMinutes} * * * *`);
      expect(ping.spec.sink).toEqual({
        ref: { apiVersion: "serving.knative.dev/v1", kind: "Service", name: schedule.function },
        uri: schedule.path,
      });
    }
  });

  test("every stream and consumer JSON under nats/ is one the code uses", () => {
    const streamFiles = readdirSync(join(ROOT, "nats/streams")).filter((f) => f.endsWith(".json"));
    expect(streamFiles.map((f) => f.replace(/\.json$/, "")).sort()).toEqual(STREAMS.map((s) => s.name).sort());
    const consumerFiles = readdirSync(join(ROOT, "nats/consumers"), { recursive: true, encoding: "utf8" }).filter((f) =>
      f.endsWith(".json"),
    );
    expect(consumerFiles.map((f) => f.replaceAll("\\", "/").replace(/\.json$/, "")).sort()).toEqual(
      CONSUMERS.map((c) => `${c.stream}/${c.config.durable_name}`).sort(),
    );
  });

  test("event-consuming functions are cluster-local; HTTP functions are reachable through Kourier", () => {
    const consumers = new Set(CONSUMERS.map((c) => c.config.durable_name));
    for (const service of ofKind(knative(), "Service")) {
      const visibility = service.metadata.labels?.["networking.knative.dev/visibility"];
      expect(visibility, service.metadata.name).toBe(consumers.has(service.metadata.name) ? "cluster-local" : undefined);
    }
  });
});

describe("schemas", () => {
  test("Knative Services, ContainerSources and PingSources validate against Knative's API", () => {
    for (const m of knative()) {
      if (m.kind === "Service") new KnativeService(m as never).validate();
      else if (m.kind === "ContainerSource") new ContainerSource(m as never).validate();
      else if (m.kind === "PingSource") new PingSource(m as never).validate();
      else if (m.kind === "ConfigMap") new ConfigMap(m as never).validate();
      else if (m.kind === "NetworkPolicy") new NetworkPolicy(m as never).validate();
      else if (m.kind === "ScaledObject") continue;
      else throw new Error(`${m.file}: unexpected ${m.kind}`);
    }
  });

  test("KEDA ScaledObjects validate against the fields of KEDA's CRD that they use, one per source, on its Deployment and consumer", () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const schemas = parse(readFileSync(join(ROOT, "tests/deploy/schemas/keda-scaledobject-v1alpha1-subset.yaml"), "utf8")) as Record<
      string,
      AnySchema
    >;
    const scaled = ofKind(knative(), "ScaledObject");
    expect(scaled).toHaveLength(CONSUMERS.length);
    for (const m of scaled) expectValid(ajv, closed(schemas.ScaledObject), m);
    // The trigger metadata KEDA's nats-jetstream scaler reads (pkg/scalers/nats_jetstream_scaler.go, v2.20.2);
    // the CRD takes any string map, and the scaler ignores a key it does not know.
    const SCALER_KEYS = [
      "account",
      "accountID",
      "stream",
      "consumer",
      "lagThreshold",
      "activationLagThreshold",
      "useHttps",
      "natsServerMonitoringEndpoint",
    ];
    for (const { stream, config } of CONSUMERS) {
      const m = scaled.find((s) => s.metadata.name === `source-${config.durable_name}`)!;
      expect(m.file, "beside its ContainerSource").toBe(`knative/source-${config.durable_name}.yaml`);
      // Knative Eventing names a ContainerSource's Deployment kmeta.ChildName(name, "-deployment").
      expect(m.spec.scaleTargetRef).toEqual({
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: `source-${config.durable_name}-deployment`,
      });
      const [trigger] = m.spec.triggers;
      expect(trigger.type).toBe("nats-jetstream");
      for (const key of Object.keys(trigger.metadata)) expect(SCALER_KEYS, `${m.file}: ${key}`).toContain(key);
      expect(trigger.metadata).toMatchObject({ stream, consumer: config.durable_name, account: "$G" });
      expect(Number(trigger.metadata.lagThreshold)).toBeGreaterThan(0);
      expect(m.spec.minReplicaCount, "a source is always on").toBeGreaterThanOrEqual(1);
      // KEDA's webhook refuses a ScaledObject whose HPA name (keda-hpa-<name>) is not a valid label value.
      expect(`keda-hpa-${m.metadata.name}`.length).toBeLessThanOrEqual(63);
    }
  });

  // Knative ignores an autoscaling annotation it does not know, so a typo would silently keep the default.
  const AUTOSCALING = new Set(
    [
      "class",
      "metric",
      "target",
      "target-utilization-percentage",
      "min-scale",
      "max-scale",
      "initial-scale",
      "activation-scale",
      "scale-down-delay",
      "window",
      "panic-window-percentage",
      "panic-threshold-percentage",
      "scale-to-zero-pod-retention-period",
      "target-burst-capacity",
    ].map((key) => `autoscaling.knative.dev/${key}`),
  );

  test("autoscaling annotations are ones Knative knows, with values it accepts", () => {
    for (const service of ofKind(knative(), "Service")) {
      const annotations: Record<string, string> = service.spec.template.metadata.annotations;
      const where = service.metadata.name;
      for (const key of Object.keys(annotations)) expect(AUTOSCALING.has(key), `${where}: ${key}`).toBe(true);
      expect(annotations["autoscaling.knative.dev/class"], where).toBe("kpa.autoscaling.knative.dev");
      expect(annotations["autoscaling.knative.dev/metric"], where).toBe("concurrency");
      const window = parseGoDuration(annotations["autoscaling.knative.dev/window"]!) / 1e9;
      expect(window, `${where}: window must be 6s..1h`).toBeGreaterThanOrEqual(6);
      expect(window).toBeLessThanOrEqual(3600);
      const target = Number(annotations["autoscaling.knative.dev/target"]);
      const maxScale = Number(annotations["autoscaling.knative.dev/max-scale"]);
      const hardLimit = service.spec.template.spec.containerConcurrency;
      expect(Number.isInteger(maxScale) && maxScale >= 1, `${where}: max-scale`).toBe(true);
      expect(target > 0 && hardLimit > 0 && target <= hardLimit, `${where}: 0 < target <= containerConcurrency`).toBe(true);
      expect(annotations["autoscaling.knative.dev/min-scale"] ?? "0", `${where} scales to zero`).toBe("0");
    }
  });

  test("readiness probes the function's /health/serving without a period, so start-up probing stays aggressive", () => {
    for (const service of ofKind(knative(), "Service")) {
      const [container] = containers(service);
      expect(container.readinessProbe, service.metadata.name).toEqual({
        httpGet: { path: "/health/serving", port: container.ports[0].containerPort },
      });
      expect(container.resources.requests && container.resources.limits, service.metadata.name).toBeTruthy();
    }
  });

  test("NACK streams and consumers validate against NACK's v1beta2 CRDs", () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const crds = parseText(readFileSync(join(ROOT, "tests/deploy/schemas/nack-v1beta2.yaml"), "utf8"), "nack-v1beta2.yaml");
    for (const m of nack()) {
      expect(m.apiVersion, m.file).toBe("jetstream.nats.io/v1beta2");
      const crd = crds.find((c) => c.spec.names.kind === m.kind);
      expect(crd, `${m.file}: no CRD for ${m.kind}`).toBeDefined();
      const schema = crd!.spec.versions.find((v: { name: string }) => v.name === "v1beta2").schema.openAPIV3Schema;
      // A CRD's schema leaves out the fields every object has; the API server checks those itself.
      const withTypeMeta = {
        ...schema,
        properties: { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, ...schema.properties },
      };
      expectValid(ajv, closed(withTypeMeta), m);
    }
  });

  test("CloudNativePG clusters and poolers validate against the fields of their CRDs that they use", () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const schemas = parse(readFileSync(join(ROOT, "tests/deploy/schemas/cloudnative-pg-v1-subset.yaml"), "utf8")) as Record<
      string,
      AnySchema
    >;
    const docs = postgres();
    expect(ofKind(docs, "Cluster")).toHaveLength(REGIONS.length);
    expect(ofKind(docs, "Pooler")).toHaveLength(REGIONS.length);
    for (const m of docs) expectValid(ajv, closed(schemas[m.kind]), m);
  });

  test("Redis, the ConfigMap, the Secret and Kourier's node port validate against Kubernetes' API", () => {
    for (const m of [...readYaml("infra/data/redis.yaml"), ...readYaml("infra/knative/kourier-nodeport.yaml")]) {
      if (m.kind === "Deployment") new Deployment(m as never).validate();
      else if (m.kind === "Service") new Service(m as never).validate();
      else throw new Error(`${m.file}: unexpected ${m.kind}`);
    }
    const [secret] = parseText(secretManifest(sampleSecretInput()), "secret");
    new Secret(secret as never).validate();
  });
});

describe("the checks have teeth", () => {
  test("a wrong type, an unknown enum value or an unknown field is rejected", () => {
    const [service] = ofKind(knative(), "Service");
    const broken = structuredClone(service!);
    broken.spec.template.spec.containerConcurrency = "ten";
    expect(() => new KnativeService(broken as never).validate()).toThrow(/containerConcurrency/);

    const ajv = new Ajv({ strict: false, allErrors: true });
    const crds = parseText(readFileSync(join(ROOT, "tests/deploy/schemas/nack-v1beta2.yaml"), "utf8"), "nack-v1beta2.yaml");
    const consumerSchema = closed(
      crds.find((c) => c.spec.names.kind === "Consumer")!.spec.versions[0].schema.openAPIV3Schema.properties.spec,
    );
    const [consumer] = ofKind(nack(), "Consumer");
    expect(ajv.validate(consumerSchema, { ...consumer!.spec, ackPolicy: "sometimes" })).toBe(false);
    expect(ajv.validate(consumerSchema, { ...consumer!.spec, ackWiat: "30s" })).toBe(false);

    const cnpg = parse(readFileSync(join(ROOT, "tests/deploy/schemas/cloudnative-pg-v1-subset.yaml"), "utf8"));
    const pooler = ofKind(postgres(), "Pooler")[0]!;
    const { file: _, ...document } = pooler;
    expect(ajv.validate(closed(cnpg.Pooler), { ...document, spec: { ...document.spec, pgbouncer: { poolMode: "statement" } } })).toBe(
      false,
    );
  });
});

describe("NACK resources and the nats CLI's JSON say the same", () => {
  const api = JSON.parse(readFileSync(join(ROOT, "tests/deploy/schemas/jetstream-api-v1.json"), "utf8"));
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

  // `nats stream add --config` decodes the file into the API's Go struct, so a field the file leaves out
  // reaches the server as Go's zero value (which the server reads as "no limit").
  const asTheCliSends = (stream: Record<string, unknown>) => ({
    max_consumers: 0,
    max_msgs: 0,
    max_bytes: 0,
    max_age: 0,
    num_replicas: 0,
    ...stream,
  });

  test.each(STREAMS.map((s) => [s.name, s] as const))("stream %s is valid JetStream API configuration", (_, stream) => {
    const validate = ajv.compile(api.stream_configuration);
    const config = asTheCliSends(stream as unknown as Record<string, unknown>);
    expect(validate(config), ajv.errorsText(validate.errors)).toBe(true);
  });

  test.each(CONSUMERS.map((c) => [`${c.stream}/${c.config.durable_name}`, c] as const))(
    "consumer %s is valid JetStream API configuration",
    (_, c) => {
      const validate = ajv.compile(api.consumer_configuration);
      expect(validate(c.config), ajv.errorsText(validate.errors)).toBe(true);
      expect(c.config.ack_policy, "the source acks explicitly").toBe("explicit");
      expect(c.config.max_deliver, "redelivery is bounded or dead-lettered").toBeDefined();
    },
  );

  test("every NACK Stream carries each field of its JSON, converted", () => {
    const streams = ofKind(nack(), "Stream");
    expect(streams.map((s) => s.spec.name).sort()).toEqual(STREAMS.map((s) => s.name).sort());
    for (const stream of STREAMS) {
      const resource = streams.find((s) => s.spec.name === stream.name)!;
      expectSameFields(stream as unknown as Record<string, unknown>, resource.spec, STREAM_FIELDS, stream.name);
    }
  });

  test("every NACK Consumer carries each field of its JSON, converted, on the right stream", () => {
    const consumers = ofKind(nack(), "Consumer");
    expect(consumers).toHaveLength(CONSUMERS.length);
    for (const { stream, config } of CONSUMERS) {
      const resource = consumers.find((c) => c.spec.durableName === config.durable_name && c.spec.streamName === stream);
      expect(resource, `no NACK Consumer for ${stream}/${config.durable_name}`).toBeDefined();
      expect(resource!.spec.deliverSubject, "a pull consumer, as the source expects").toBeUndefined();
      expectSameFields(config as Record<string, unknown>, resource!.spec, CONSUMER_FIELDS, `${stream}/${config.durable_name}`);
    }
  });
});

function expectValid(ajv: Ajv, schema: AnySchema, m: Manifest): void {
  const { file, ...document } = m;
  const validate = ajv.compile(schema);
  expect(validate(document), `${file} (${m.kind} ${m.metadata.name}): ${ajv.errorsText(validate.errors)}`).toBe(true);
}

/** Each JSON field, read back from the NACK resource without infra/manifests/nack.ts's conversions. */
function expectSameFields(json: Record<string, unknown>, spec: Record<string, unknown>, fields: typeof STREAM_FIELDS, where: string): void {
  for (const [field, value] of Object.entries(json)) {
    const nackField = fields[field]?.[0];
    expect(nackField, `${where}: ${field} has no NACK field`).toBeDefined();
    expect(readBack(spec[nackField!], value), `${where}: ${field} → ${nackField}`).toEqual(value);
  }
}

function readBack(nackValue: unknown, jsonValue: unknown): unknown {
  if (Array.isArray(nackValue)) return nackValue.map((v, i) => readBack(v, (jsonValue as unknown[])[i]));
  if (typeof nackValue === "string" && typeof jsonValue === "number") return parseGoDuration(nackValue);
  if (typeof nackValue === "string" && typeof jsonValue === "string" && /^by[A-Z]/.test(nackValue)) {
    return nackValue.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  }
  return nackValue;
}

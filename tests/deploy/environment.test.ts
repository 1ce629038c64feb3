// What the deployed processes will see, checked without a cluster: each function's and source's environment
// against what shared/config.ts reads and requires, the timing chain from JetStream's ack wait to Knative's
// request timeout, the images against the bundles, and the pieces of the cluster that must agree.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { SDK_FILE, SOURCES, bundlePath } from "../../esbuild.config";
import { CONFIG_VALUES } from "../../infra/manifests/env";
import { DEV_TAG, imageName, images } from "../../infra/manifests/images";
import { NATS_MONITORING_ENDPOINT } from "../../infra/manifests/jetstream-source";
import { ROOT } from "../../infra/manifests/names";
import { OTEL_ENV_NAMES } from "../../infra/monitoring/telemetry";
import { clusterName, poolerName } from "../../infra/manifests/postgres";
import { secretManifest } from "../../infra/manifests/secret";
import { storesByFunction, type Store } from "../../infra/manifests/stores";
import { COLD_START_BUDGET_MS, ackWaitMs } from "../../infra/manifests/timing";
import { SOURCE_PROFILES } from "../../infra/profiles";
import { RUNTIME_IMAGE, runtimeMajor } from "../../infra/runtime";
import { SOURCE_SETTINGS, loadConfig, loadSourceConfig } from "../../shared/config";
import { CONSUMERS, STREAMS } from "../../shared/events/definitions";
import { REGIONS } from "../../shared/regions";
import { containers, ofKind, parseText, podEnv, readFolder, readYaml, sampleSecretInput, type Manifest } from "./manifests";

type Env = Record<string, string | undefined>;

/** The names a loader reads, found by running it on an environment that records every lookup. */
function namesRead(load: (env: Env) => unknown, given: Env): Set<string> {
  const read = new Set<string>();
  const env = new Proxy(given, {
    get(target, key) {
      if (typeof key === "string") read.add(key);
      return Reflect.get(target, key);
    },
  });
  load(env);
  return read;
}

const FUNCTION_READS = namesRead(loadConfig, { K_SERVICE: "probe", JWT_SECRET: "probe" });
const SOURCE_READS = namesRead(loadSourceConfig, { K_SINK: "http://probe", JS_STREAM: "probe", JS_CONSUMER: "probe" });
/** Set by Knative itself; a manifest that set them would fight it. */
const INJECTED = ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "K_SINK", "K_CE_OVERRIDES"];

const knative = readFolder("knative");
const services = ofKind(knative, "Service");
const sources = ofKind(knative, "ContainerSource");
const configMap = ofKind(knative, "ConfigMap")[0]!;
const secret = parseText(secretManifest(sampleSecretInput()), "secret")[0]!;

const resolvedEnv = (manifest: Manifest): Env => podEnv(manifest, configMap, secret);

let stores: Map<string, Set<Store>>;
beforeAll(async () => {
  stores = await storesByFunction();
}, 60_000);

describe("environment", () => {
  test("the code reads the names it is checked against", () => {
    for (const name of ["JWT_SECRET", "NATS_URL", "REDIS_URL", ...REGIONS.map((r) => `DATABASE_URL_${r.toUpperCase()}`)]) {
      expect(FUNCTION_READS.has(name), name).toBe(true);
    }
    for (const name of [
      "NATS_URL",
      "SINK_TIMEOUT_MS",
      "JS_STREAM",
      "JS_CONSUMER",
      "SOURCE_CONCURRENCY",
      "SOURCE_BATCH_MAX",
      "SOURCE_BATCH_WAIT_MS",
    ]) {
      expect(SOURCE_READS.has(name), name).toBe(true);
    }
  });

  // The OpenTelemetry variables are the SDK's own (read by it, whether or not shared/config.ts also looks at one);
  // tests/deploy/telemetry.test.ts checks that each is one of the specification's.
  const readBySdk = (name: string) => OTEL_ENV_NAMES.includes(name);

  test("every name a manifest sets is one shared/config.ts or the OpenTelemetry SDK reads, and none is one Knative injects", () => {
    for (const [manifests, reads] of [
      [services, FUNCTION_READS],
      [sources, SOURCE_READS],
    ] as const) {
      for (const m of manifests) {
        for (const { name } of containers(m)[0].env) {
          expect(reads.has(name) || readBySdk(name), `${m.file}: ${name} is read by nothing in shared/config.ts`).toBe(true);
          expect(INJECTED, `${m.file}: ${name}`).not.toContain(name);
        }
      }
    }
    for (const key of Object.keys(configMap.data!))
      expect(FUNCTION_READS.has(key) || SOURCE_READS.has(key) || readBySdk(key), `ConfigMap key ${key}`).toBe(true);
    expect(readBySdk("OTEL_TRACES_SAMPLER")).toBe(true);
    expect(readBySdk("OTEL_TRACE_SAMPLER"), "a misspelt variable is not waved through").toBe(false);
  });

  test("each source is deployed with its consumer's SOURCE_SETTINGS, which it accepts, and its concurrency per replica", () => {
    for (const name of Object.keys(SOURCE_SETTINGS))
      expect(
        CONSUMERS.map((c) => c.config.durable_name),
        `SOURCE_SETTINGS names ${name}`,
      ).toContain(name);
    for (const source of sources) {
      const name = source.spec.sink.ref.name;
      const env = resolvedEnv(source);
      expect(env, source.file).toMatchObject({ ...SOURCE_SETTINGS[name], SOURCE_CONCURRENCY: String(SOURCE_PROFILES[name]!.concurrency) });
      expect(() => loadSourceConfig({ ...env, K_SINK: "http://sink" }), source.file).not.toThrow();
    }
  });

  test("the sources' replicas stay within their consumer's max_ack_pending and what their function takes at max-scale", () => {
    for (const source of sources) {
      const name = source.spec.sink.ref.name;
      const profile = SOURCE_PROFILES[name]!;
      const { concurrency, batchMax } = loadSourceConfig({ ...resolvedEnv(source), K_SINK: "http://sink" });
      const consumer = CONSUMERS.find((c) => c.config.durable_name === name)!;
      const service = services.find((s) => s.metadata.name === name)!;
      const requestsAtMaxScale =
        Number(service.spec.template.metadata.annotations["autoscaling.knative.dev/max-scale"]) *
        service.spec.template.spec.containerConcurrency;
      expect(profile.minReplicas).toBeGreaterThanOrEqual(1);
      expect(profile.maxReplicas).toBeGreaterThanOrEqual(profile.minReplicas);
      expect(profile.maxReplicas * concurrency * batchMax, `${name}: messages held by every replica`).toBeLessThanOrEqual(
        consumer.config.max_ack_pending!,
      );
      expect(profile.maxReplicas * concurrency, `${name}: requests in flight from every replica`).toBeLessThanOrEqual(requestsAtMaxScale);
      expect(profile.lagThreshold, `${name}: one replica's own window does not call for another`).toBeGreaterThan(concurrency * batchMax);
    }
  });

  test("KEDA reads the lag from the NATS chart's Service, whose monitoring port the values turn on", () => {
    const nats = parse(readFileSync(join(ROOT, "infra/values/nats.yaml"), "utf8"));
    expect(nats.service.ports.monitor.enabled).toBe(true);
    expect(nats.config.monitor?.enabled ?? true, "the chart's default").toBe(true);
    expect(NATS_MONITORING_ENDPOINT).toBe(`${new URL(CONFIG_VALUES.NATS_URL!).hostname}:${nats.config.monitor?.port ?? 8222}`);
  });

  test("each function starts with its environment and reaches the cluster's stores, not the local defaults", () => {
    const local = loadConfig({});
    for (const service of services) {
      const name = service.metadata.name;
      const config = loadConfig({ ...resolvedEnv(service), K_SERVICE: name });
      const used = stores.get(name)!;
      expect(used.size, `${name} links no store at all`).toBeGreaterThan(0);
      if (used.has("redis")) expect(config.redisUrl, name).not.toBe(local.redisUrl);
      if (used.has("nats")) expect(config.natsUrl, name).not.toBe(local.natsUrl);
      for (const region of REGIONS) {
        if (!used.has("postgres")) continue;
        expect(config.shards[region].primaryUrl, `${name} ${region}`).toContain(`@${poolerName(region)}.`);
        expect(config.shards[region].replicaUrl, `${name} ${region}`).toContain(`@${clusterName(region)}-ro.`);
      }
    }
  });

  test("a function without its Secret refuses to start on Knative", () => {
    for (const service of services) {
      const { JWT_SECRET: _, ...rest } = resolvedEnv(service);
      expect(() => loadConfig({ ...rest, K_SERVICE: service.metadata.name })).toThrow(/JWT_SECRET/);
    }
  });

  test("postgres.js reads the Secret's URLs as meant, whatever characters the generated password has", async () => {
    for (const region of REGIONS) {
      for (const [key, host] of [
        [`DATABASE_URL_${region.toUpperCase()}`, `${poolerName(region)}.uitgo-data.svc.cluster.local`],
        [`DATABASE_REPLICA_URL_${region.toUpperCase()}`, `${clusterName(region)}-ro.uitgo-data.svc.cluster.local`],
      ] as const) {
        const sql = postgres(secret.stringData![key]!);
        expect(sql.options, key).toMatchObject({
          host: [host],
          port: [5432],
          database: "uitgo",
          user: "uitgo",
          pass: `p@ss/word:${region}`,
        });
        await sql.end();
      }
    }
  });
});

describe("timing: ack wait > sink timeout > Knative timeout > cold start", () => {
  test.each(CONSUMERS.map((c) => [`${c.stream}/${c.config.durable_name}`, c] as const))("%s", (_, consumer) => {
    const source = sources.find((s) => s.spec.sink.ref.name === consumer.config.durable_name)!;
    const sink = services.find((s) => s.metadata.name === consumer.config.durable_name)!;
    const { sinkTimeoutMs, batchMax, batchWaitMs } = loadSourceConfig({ ...resolvedEnv(source), K_SINK: "http://sink" });
    const knativeTimeoutMs = sink.spec.template.spec.timeoutSeconds * 1000;
    // A message of a batch first waits for the batch to fill, then for the answer to it.
    const batchingMs = batchMax > 1 ? batchWaitMs : 0;
    expect(ackWaitMs(consumer), "JetStream must not redeliver while the source still waits").toBeGreaterThan(batchingMs + sinkTimeoutMs);
    expect(knativeTimeoutMs, "Knative ends the request no later than the source stops waiting").toBeLessThanOrEqual(sinkTimeoutMs);
    expect(knativeTimeoutMs, "room for a scale-from-zero and the work").toBeGreaterThan(COLD_START_BUDGET_MS);
  });

  test("every pod's termination grace period (Knative's timeoutSeconds) outlasts the function's own drain", () => {
    for (const service of services) {
      const config = loadConfig({ ...resolvedEnv(service), K_SERVICE: service.metadata.name });
      expect(service.spec.template.spec.timeoutSeconds * 1000, service.metadata.name).toBeGreaterThan(config.shutdownTimeoutMs);
    }
  });
});

describe("images", () => {
  const built = images();

  test("each function's and source's image is built from its own bundle", () => {
    const expected = [
      ...services.map((s) => ({ image: containers(s)[0].image, bundle: bundlePath("functions", s.metadata.name) })),
      ...SOURCES.map((name) => ({ image: `${imageName("sources", name)}:${DEV_TAG}`, bundle: bundlePath("sources", name) })),
    ];
    for (const { image, bundle } of expected) {
      const repository = image.slice(0, image.lastIndexOf(":"));
      const entry = built.find((b) => b.image.startsWith(`${repository}:`));
      expect(entry, `nothing builds ${image}`).toBeDefined();
      expect(join(ROOT, entry!.bundle)).toBe(bundle);
      expect(existsSync(bundle), `${bundle} (npm run build)`).toBe(true);
      expect(image.endsWith(`:${DEV_TAG}`), `${image}: the committed manifests carry the :${DEV_TAG} tag`).toBe(true);
    }
    for (const source of sources) expect(containers(source)[0].image).toBe(`${imageName("sources", "jetstream")}:${DEV_TAG}`);
  });

  test("the Dockerfile copies one bundle onto infra/runtime.ts's distroless Node LTS image and runs it as a non-root user", () => {
    const dockerfile = readFileSync(join(ROOT, "infra/Dockerfile"), "utf8");
    expect(dockerfile.match(/^FROM (.*)$/gm)).toEqual([`FROM ${RUNTIME_IMAGE}`]);
    expect(RUNTIME_IMAGE).toMatch(/^gcr\.io\/distroless\/nodejs(\d+)-debian\d+:nonroot$/);
    expect(RUNTIME_IMAGE).toContain(`/nodejs${runtimeMajor()}-`);
    // Even-numbered releases are the LTS lines; 20 is past its end of life.
    expect(runtimeMajor() % 2).toBe(0);
    expect(runtimeMajor()).toBeGreaterThanOrEqual(22);
    expect(dockerfile).toMatch(/^ARG BUNDLE$/m);
    expect(dockerfile).toMatch(/^COPY \$\{BUNDLE\} \/app\/index\.mjs$/m);
    // The tracing SDK beside it, where startTracing() imports it from (shared/telemetry/tracing.ts).
    expect(dockerfile).toMatch(new RegExp(`^COPY dist/${SDK_FILE} /app/${SDK_FILE}$`, "m"));
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    for (const m of [...services, ...sources]) expect(containers(m)[0].securityContext.runAsNonRoot, m.file).toBe(true);
  });

  test(".dockerignore sends the builder the bundles and nothing else", () => {
    const ignored = dockerIgnored(readFileSync(join(ROOT, ".dockerignore"), "utf8"));
    for (const { bundle } of built) expect(ignored(bundle), bundle).toBe(false);
    expect(ignored(`dist/${SDK_FILE}`)).toBe(false);
    for (const path of [
      "dist/functions/get-trip/index.mjs.map",
      "node_modules/postgres/package.json",
      "shared/config.ts",
      ".local/logs/x.log",
    ]) {
      expect(ignored(path), path).toBe(true);
    }
  });
});

describe("the cluster's pieces agree", () => {
  test("kind maps host port 80 to Kourier's node port, on a pinned node image", () => {
    const kind = parse(readFileSync(join(ROOT, "infra/kind-config.yaml"), "utf8"));
    const [node] = kind.nodes;
    expect(node.image).toMatch(/^kindest\/node:v[\d.]+@sha256:[0-9a-f]{64}$/);
    const [kourier] = readYaml("infra/knative/kourier-nodeport.yaml");
    expect(node.extraPortMappings).toContainEqual(
      expect.objectContaining({ hostPort: 80, containerPort: kourier!.spec.ports[0].nodePort }),
    );
  });

  test("NACK's controller and the functions talk to the same NATS server that the chart creates", () => {
    const nack = parse(readFileSync(join(ROOT, "infra/values/nack.yaml"), "utf8"));
    expect(nack.jetstream.nats.url).toBe(CONFIG_VALUES.NATS_URL);
    const nats = parse(readFileSync(join(ROOT, "infra/values/nats.yaml"), "utf8"));
    expect(nats.config.jetstream.enabled).toBe(true);
    expect(CONFIG_VALUES.NATS_URL).toBe("nats://nats.nats.svc.cluster.local:4222");
  });

  test("JetStream's store has room for every stream's reservation: DRIVER_LOCATIONS is bounded in bytes and drops its oldest", () => {
    const nats = parse(readFileSync(join(ROOT, "infra/values/nats.yaml"), "utf8"));
    const { maxSize, pvc } = nats.config.jetstream.fileStore;
    const store = quantity(maxSize);
    expect(store, "JetStream's limit stays below its volume").toBeLessThan(quantity(pvc.size));
    const locations = STREAMS.find((s) => s.name === "DRIVER_LOCATIONS")!;
    expect(locations.discard, "a full stream drops history, never refuses update-location's publish").toBe("old");
    expect(Number(locations.max_bytes)).toBeGreaterThan(0);
    // A stream's max_bytes is reserved when it is created: the sum must fit, and the streams bounded by age
    // only (TRIPS, DEAD_LETTERS) keep the rest.
    const reserved = STREAMS.reduce((sum, s) => sum + Math.max(0, Number(s.max_bytes ?? 0)), 0);
    expect(store - reserved, "at least 256 MiB left for the streams bounded by age only").toBeGreaterThanOrEqual(256 * 2 ** 20);
  });

  test("Redis's Service is the one the ConfigMap names", () => {
    const redisService = readYaml("infra/data/redis.yaml").find((m) => m.kind === "Service")!;
    expect(CONFIG_VALUES.REDIS_URL).toBe(
      `redis://${redisService.metadata.name}.${redisService.metadata.namespace}.svc.cluster.local:${redisService.spec.ports[0].port}`,
    );
  });

  test("each shard's pooler suits postgres.js: transaction mode with prepared statements tracked, statement_timeout let through", () => {
    const postgresClient = readFileSync(join(ROOT, "shared/clients/postgres.ts"), "utf8");
    const docs = readYaml("infra/data/postgres.yaml");
    for (const region of REGIONS) {
      const pooler = docs.find((m) => m.kind === "Pooler" && m.metadata.name === poolerName(region))!;
      expect(pooler.spec.cluster.name).toBe(clusterName(region));
      const { poolMode, parameters } = pooler.spec.pgbouncer;
      if (poolMode === "transaction") expect(Number(parameters.max_prepared_statements), "postgres.js prepares by name").toBeGreaterThan(0);
      if (/statement_timeout/.test(postgresClient)) {
        expect(parameters.ignore_startup_parameters.split(","), "postgres.js sends statement_timeout at connect time").toContain(
          "statement_timeout",
        );
      }
      const cluster = docs.find((m) => m.kind === "Cluster" && m.metadata.name === clusterName(region))!;
      expect(cluster.spec.instances, `${region}: a primary and a replica for DATABASE_REPLICA_URL`).toBeGreaterThanOrEqual(2);
    }
  });
});

/** A .dockerignore's verdict on a path: the last matching pattern wins, `!` re-includes. Enough of Docker's rules for `*` patterns. */
function dockerIgnored(text: string): (path: string) => boolean {
  const rules = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const include = line.startsWith("!");
      const pattern = include ? line.slice(1) : line;
      const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*")}(/.*)?$`);
      return { include, regex };
    });
  return (path) => rules.reduce((ignored, rule) => (rule.regex.test(path) ? !rule.include : ignored), false);
}

/** A Kubernetes quantity with a binary suffix (what the NATS chart's values use) in bytes. */
function quantity(text: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(text);
  if (!match) throw new Error(`${text} is not a binary quantity`);
  return Number(match[1]) * 1024 ** ["", "Ki", "Mi", "Gi", "Ti"].indexOf(match[2] ?? "");
}

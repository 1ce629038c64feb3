// Traces and logs on the cluster, checked without one: Knative's tracing keys are ones Knative Serving 1.23 reads,
// with values it accepts; every function and source is told where the collector is; the collector's and Jaeger's
// configurations have pipelines made of components that are defined and that their images contain; Loki and Alloy's
// values and Alloy's configuration hang together; Grafana's datasources link a log line's trace_id to its trace and
// back; and infra/cluster.sh installs the four pinned charts with these values, before anything sends to them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { FUNCTIONS } from "../../esbuild.config";
import { ROOT, SOURCE_LABEL, serviceHost } from "../../infra/manifests/names";
import { MONITORING_NAMESPACE, VALUES_FILE, prometheusDatasource } from "../../infra/monitoring/config";
import {
  COLLECTOR_OTLP_HTTP,
  DATASOURCE_UIDS,
  JAEGER_QUERY_URL,
  KNATIVE_TRACING,
  LOKI_URL,
  OTEL_ENV_NAMES,
  OTEL_SDK_CONFIG,
  OTLP_GRPC_PORT,
  OTLP_HTTP_PORT,
  TELEMETRY_RELEASES,
} from "../../infra/monitoring/telemetry";
import { secretManifest } from "../../infra/manifests/secret";
import { CONSUMERS } from "../../shared/events/definitions";
import { closed, containers, ofKind, parseText, podEnv, readFolder, sampleSecretInput } from "./manifests";

const read = (file: string) => readFileSync(join(ROOT, file), "utf8");
const values = (file: string) => parse(read(`infra/values/${file}`));
const clusterScript = read("infra/cluster.sh");

// ---------------------------------------------------------------------------------------------------------------
// Knative Serving's tracing

/**
 * The keys Knative Serving 1.23 reads from config-observability (knative/serving at knative-v1.23.0:
 * pkg/observability/config.go, and knative.dev/pkg's observability/{tracing,metrics,runtime}/config.go as vendored
 * there). config-tracing is deprecated in that release and read by nothing, so its `backend: zipkin` and
 * `zipkin-endpoint` would be ignored.
 */
const OBSERVABILITY_KEYS = new Set([
  "tracing-protocol",
  "tracing-endpoint",
  "tracing-sampling-rate",
  "metrics-protocol",
  "metrics-endpoint",
  "metrics-export-interval",
  "request-metrics-protocol",
  "request-metrics-endpoint",
  "request-metrics-export-interval",
  "runtime-profiling",
  "runtime-export-interval",
  "logging.enable-var-log-collection",
  "logging.revision-url-template",
  "logging.request-log-template",
  "logging.enable-request-log",
  "logging.enable-probe-request-log",
]);

/** What Knative's webhook refuses (tracing.Config.Validate in knative.dev/pkg), and an endpoint not on the collector. */
function tracingProblems(data: Record<string, string>): string[] {
  const problems = Object.keys(data)
    .filter((key) => !OBSERVABILITY_KEYS.has(key))
    .map((key) => `${key} is not a config-observability key of Knative Serving 1.23`);
  const protocol = data["tracing-protocol"] ?? "none";
  const endpoint = data["tracing-endpoint"] ?? "";
  const rate = Number(data["tracing-sampling-rate"] ?? "0");
  if (!["grpc", "http/protobuf", "none", "stdout"].includes(protocol)) problems.push(`unsupported tracing-protocol ${protocol}`);
  if ((protocol === "grpc" || protocol === "http/protobuf") !== (endpoint !== ""))
    problems.push("tracing-endpoint set iff the protocol exports");
  if (!(rate >= 0 && rate <= 1)) problems.push(`tracing-sampling-rate ${data["tracing-sampling-rate"]} is outside 0..1`);
  if (protocol === "http/protobuf") {
    // otlptracehttp.WithEndpointURL takes the path as given: without /v1/traces the spans would go to "/".
    const url = new URL(endpoint);
    if (url.pathname !== "/v1/traces") problems.push(`tracing-endpoint path ${url.pathname}, not /v1/traces`);
    if (url.origin !== new URL(COLLECTOR_OTLP_HTTP).origin) problems.push(`tracing-endpoint ${url.origin} is not the collector`);
  }
  return problems;
}

/** The data of each ConfigMap infra/cluster.sh patches in knative-serving, by name. */
function servingPatches(): Map<string, Record<string, string>> {
  const patches = [...clusterScript.matchAll(/^\s*patch_serving_config (\S+) '(\{.*\})'$/gm)];
  return new Map(patches.map(([, name, json]) => [name!, JSON.parse(json!).data as Record<string, string>]));
}

describe("Knative's activator and queue-proxies send their spans to the collector", () => {
  test("config-observability gets Knative 1.23's tracing keys, pointed at the collector's OTLP/HTTP receiver", () => {
    const observability = servingPatches().get("config-observability");
    expect(observability, "infra/cluster.sh patches config-observability").toBeDefined();
    expect(observability).toMatchObject(KNATIVE_TRACING);
    expect(tracingProblems(observability!)).toEqual([]);
    expect(servingPatches().has("config-tracing"), "config-tracing is deprecated in 1.23").toBe(false);
  });

  test("the check has teeth: config-tracing's keys, a Zipkin protocol, a bare endpoint or a rate above 1 are caught", () => {
    expect(tracingProblems({ backend: "zipkin", "zipkin-endpoint": "http://x:9411/api/v2/spans" })).toHaveLength(2);
    expect(tracingProblems({ ...KNATIVE_TRACING, "tracing-protocol": "zipkin" })).not.toEqual([]);
    expect(tracingProblems({ ...KNATIVE_TRACING, "tracing-endpoint": COLLECTOR_OTLP_HTTP })).not.toEqual([]);
    expect(tracingProblems({ ...KNATIVE_TRACING, "tracing-sampling-rate": "1.5" })).not.toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The functions' and sources' OpenTelemetry settings

/** The OpenTelemetry specification's SDK environment variables (general, exporter and sampler ones) that a manifest may set. */
const SPEC_VARIABLES = new Set([
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_PROPAGATORS",
  "OTEL_TRACES_SAMPLER",
  "OTEL_TRACES_SAMPLER_ARG",
  "OTEL_TRACES_EXPORTER",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
]);
/** The specification's built-in samplers (OTEL_TRACES_SAMPLER's values). */
const SAMPLERS = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"];

describe("every function and source is told where the collector is", () => {
  const knative = readFolder("knative");
  const configMap = ofKind(knative, "ConfigMap")[0]!;
  const secret = parseText(secretManifest(sampleSecretInput()), "secret")[0]!;

  test("each OTEL_* variable set is one of the specification's, with a sampler it defines and a ratio in 0..1", () => {
    for (const name of OTEL_ENV_NAMES) expect(SPEC_VARIABLES.has(name), name).toBe(true);
    expect(SAMPLERS).toContain(OTEL_SDK_CONFIG.OTEL_TRACES_SAMPLER);
    expect(OTEL_SDK_CONFIG.OTEL_TRACES_SAMPLER, "a process continues its caller's decision").toMatch(/^parentbased_/);
    const ratio = Number(OTEL_SDK_CONFIG.OTEL_TRACES_SAMPLER_ARG);
    expect(ratio >= 0 && ratio <= 1, `ratio ${ratio}`).toBe(true);
    expect(Number(KNATIVE_TRACING["tracing-sampling-rate"]), "Knative samples as the functions do").toBe(ratio);
  });

  test("the endpoint is the collector's OTLP/HTTP Service, without the /v1/traces the exporter appends", () => {
    const url = new URL(OTEL_SDK_CONFIG.OTEL_EXPORTER_OTLP_ENDPOINT);
    expect(url.hostname).toBe(serviceHost(values("otel-collector.yaml").fullnameOverride, MONITORING_NAMESPACE));
    expect(Number(url.port)).toBe(OTLP_HTTP_PORT);
    expect(url.pathname).toBe("/");
  });

  test("each function reports as its own name, each source as source-<consumer>, all with the ConfigMap's collector and sampler", () => {
    const expected = [
      ...FUNCTIONS.map((name) => [ofKind(knative, "Service").find((s) => s.metadata.name === name)!, name] as const),
      ...CONSUMERS.map(({ config: { durable_name: name } }) => {
        const source = ofKind(knative, "ContainerSource").find((s) => s.spec.sink.ref.name === name)!;
        return [source, `source-${name}`] as const;
      }),
    ];
    expect(expected).toHaveLength(FUNCTIONS.length + CONSUMERS.length);
    for (const [manifest, serviceName] of expected) {
      expect(manifest, serviceName).toBeDefined();
      const env = podEnv(manifest, configMap, secret);
      expect(env, manifest.file).toMatchObject({ OTEL_SERVICE_NAME: serviceName, ...OTEL_SDK_CONFIG });
      const set = containers(manifest)[0].env.map((e: { name: string }) => e.name);
      expect(set.filter((n: string) => n.startsWith("OTEL_")).sort(), manifest.file).toEqual([...OTEL_ENV_NAMES].sort());
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The chart values

const ajv = new Ajv({ strict: false, allErrors: true });
const subset = parse(read("tests/deploy/schemas/telemetry-values-subset.yaml"));
const validator = (chart: string) => ajv.compile({ $defs: closed(subset.$defs), ...closed(subset[chart]) });

describe("the chart values set only keys the pinned charts know, with values they accept", () => {
  test.each([
    ["otelCollector", "otel-collector.yaml"],
    ["jaeger", "jaeger.yaml"],
    ["loki", "loki.yaml"],
    ["alloy", "alloy.yaml"],
  ])("%s (infra/values/%s)", (chart, file) => {
    const validate = validator(chart);
    expect(validate(values(file)), ajv.errorsText(validate.errors)).toBe(true);
  });

  test("the check has teeth: a misspelt key, a mode the chart lacks and a missing memory limit are caught", () => {
    const validate = validator("otelCollector");
    const collector = values("otel-collector.yaml");
    expect(validate({ ...collector, fullNameOverride: "x" })).toBe(false);
    expect(validate({ ...collector, mode: "sidecar" })).toBe(false);
    expect(validate({ ...collector, resources: { requests: collector.resources.requests, limits: {} } })).toBe(false);
  });

  test("the four charts together request at most 300m CPU and 640Mi on the kind node, and each has a memory limit", () => {
    const requests = [
      values("otel-collector.yaml").resources,
      values("jaeger.yaml").jaeger.resources,
      values("loki.yaml").singleBinary.resources,
      values("alloy.yaml").alloy.resources,
    ];
    const cpu = requests.reduce((sum, r) => sum + Number(String(r.requests.cpu).replace(/m$/, "")), 0);
    const memory = requests.reduce((sum, r) => sum + Number(String(r.requests.memory).replace(/Mi$/, "")), 0);
    expect(cpu).toBeLessThanOrEqual(300);
    expect(memory).toBeLessThanOrEqual(640);
    for (const r of requests) expect(r.limits.memory).toMatch(/^\d+(Mi|Gi)$/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The collector's and Jaeger's configurations

type Config = Record<string, any>;

/** How Helm merges values into a chart's defaults: maps deeply, a list or a scalar replaces, null removes the key. */
function coalesce(defaults: unknown, override: unknown): unknown {
  if (override === undefined) return defaults;
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isMap(defaults) || !isMap(override)) return override;
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else merged[key] = coalesce(defaults[key], value);
  }
  return merged;
}

/**
 * The opentelemetry-collector chart's default `config` at 0.170.0 (charts/opentelemetry-collector/values.yaml), the
 * parts the values override or remove: its receivers, exporters, processors, extensions and pipelines.
 */
const COLLECTOR_CHART_CONFIG: Config = {
  exporters: { debug: {} },
  extensions: { health_check: { endpoint: "${env:MY_POD_IP}:13133" } },
  processors: { batch: {}, memory_limiter: { check_interval: "5s", limit_percentage: 80, spike_limit_percentage: 25 } },
  receivers: {
    jaeger: { protocols: { grpc: { endpoint: "${env:MY_POD_IP}:14250" } } },
    otlp: { protocols: { grpc: { endpoint: "${env:MY_POD_IP}:4317" }, http: { endpoint: "${env:MY_POD_IP}:4318" } } },
    prometheus: { config: { scrape_configs: [] } },
    zipkin: { endpoint: "${env:MY_POD_IP}:9411" },
  },
  service: {
    extensions: ["health_check"],
    pipelines: {
      logs: { receivers: ["otlp"], processors: ["memory_limiter", "batch"], exporters: ["debug"] },
      metrics: { receivers: ["otlp", "prometheus"], processors: ["memory_limiter", "batch"], exporters: ["debug"] },
      traces: { receivers: ["otlp", "jaeger", "zipkin"], processors: ["memory_limiter", "batch"], exporters: ["debug"] },
    },
  },
};

/**
 * The component types each image is built with. The collector's Kubernetes distribution at 0.158.0 (the chart's
 * appVersion; distributions/otelcol-k8s/manifest.yaml in open-telemetry/opentelemetry-collector-releases), the
 * ones used here: the OTLP exporter's type is otlp_grpc since 0.144, otlp its deprecated alias. Jaeger v2.19.0's
 * (cmd/jaeger/internal/components.go), likewise.
 */
const COMPONENTS = {
  collector: {
    receivers: ["otlp"],
    processors: ["batch", "memory_limiter"],
    exporters: ["otlp_grpc", "otlp_http", "debug"],
    extensions: ["health_check"],
  },
  jaeger: {
    receivers: ["otlp"],
    processors: ["batch", "memory_limiter"],
    exporters: ["jaeger_storage_exporter"],
    extensions: ["jaeger_storage", "jaeger_query", "healthcheckv2"],
  },
} as const;

/** What a collector (or Jaeger, which is one) would refuse or ignore in a configuration: undefined, unknown or unused components. */
function pipelineProblems(config: Config, known: (typeof COMPONENTS)[keyof typeof COMPONENTS]): string[] {
  const problems: string[] = [];
  const kinds = ["receivers", "processors", "exporters", "extensions"] as const;
  for (const kind of kinds) {
    for (const id of Object.keys(config[kind] ?? {})) {
      if (!(known[kind] as readonly string[]).includes(id.split("/")[0]!)) problems.push(`${kind} ${id}: no such component in the image`);
    }
  }
  const pipelines: Record<string, Record<string, string[]>> = config.service?.pipelines ?? {};
  if (Object.keys(pipelines).length === 0) problems.push("no pipelines");
  const used = new Set<string>();
  for (const [name, pipeline] of Object.entries(pipelines)) {
    for (const kind of ["receivers", "processors", "exporters"] as const) {
      if (kind !== "processors" && !(pipeline[kind]?.length ?? 0)) problems.push(`pipeline ${name} has no ${kind}`);
      for (const id of pipeline[kind] ?? []) {
        used.add(`${kind} ${id}`);
        if (!(id in (config[kind] ?? {}))) problems.push(`pipeline ${name} names ${kind} ${id}, which is not defined`);
      }
    }
  }
  for (const id of config.service?.extensions ?? [])
    if (!(id in (config.extensions ?? {}))) problems.push(`extension ${id} is not defined`);
  for (const kind of ["receivers", "exporters"] as const) {
    for (const id of Object.keys(config[kind] ?? {})) if (!used.has(`${kind} ${id}`)) problems.push(`${kind} ${id} is in no pipeline`);
  }
  return problems;
}

const collectorConfig = () => coalesce(COLLECTOR_CHART_CONFIG, values("otel-collector.yaml").config) as Config;
const jaegerConfig = () => values("jaeger.yaml").userconfig as Config;

describe("the collector: OTLP in, Jaeger out", () => {
  test("its merged configuration has one traces pipeline, of defined components its image has", () => {
    const config = collectorConfig();
    expect(pipelineProblems(config, COMPONENTS.collector)).toEqual([]);
    expect(Object.keys(config.service.pipelines)).toEqual(["traces"]);
    expect(config.service.extensions, "the chart refuses a configuration without it").toContain("health_check");
  });

  test("it exports to Jaeger's OTLP/gRPC port in plain text, and receives on the ports its Service opens", () => {
    const config = collectorConfig();
    const [exporter] = config.service.pipelines.traces.exporters;
    expect(exporter).toMatch(/^otlp_grpc\//);
    expect(config.exporters[exporter]).toEqual({
      endpoint: `${serviceHost(TELEMETRY_RELEASES.jaeger, MONITORING_NAMESPACE)}:${OTLP_GRPC_PORT}`,
      tls: { insecure: true },
    });
    // The chart's ports (values.yaml): otlp 4317 and otlp-http 4318 on; the others each belong to a removed receiver.
    const ports = values("otel-collector.yaml").ports;
    for (const name of ["jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin"]) expect(ports[name], name).toEqual({ enabled: false });
    const received = Object.values(config.receivers.otlp.protocols).map((p: any) => Number(p.endpoint.split(":").at(-1)));
    expect(received.sort()).toEqual([OTLP_GRPC_PORT, OTLP_HTTP_PORT]);
    expect(values("otel-collector.yaml").fullnameOverride).toBe(TELEMETRY_RELEASES.collector);
  });

  test("the check has teeth: a pipeline naming a removed receiver, an unknown exporter and an unused one are caught", () => {
    const config = collectorConfig();
    const broken = structuredClone(config);
    broken.service.pipelines.traces.receivers.push("zipkin");
    expect(pipelineProblems(broken, COMPONENTS.collector)).toEqual(["pipeline traces names receivers zipkin, which is not defined"]);
    const unknown = coalesce(config, { exporters: { "jaeger/old": {} } }) as Config;
    expect(pipelineProblems(unknown, COMPONENTS.collector)).toEqual([
      "exporters jaeger/old: no such component in the image",
      "exporters jaeger/old is in no pipeline",
    ]);
    expect(pipelineProblems(coalesce(COLLECTOR_CHART_CONFIG, {}) as Config, COMPONENTS.collector)).toContain(
      "receivers jaeger: no such component in the image",
    );
  });
});

describe("Jaeger: OTLP in, memory store, query on 16686", () => {
  test("its configuration has a traces pipeline of defined components Jaeger has, storing where the query reads", () => {
    const config = jaegerConfig();
    expect(pipelineProblems(config, COMPONENTS.jaeger)).toEqual([]);
    const backends = Object.keys(config.extensions.jaeger_storage.backends);
    expect(backends).toContain(config.exporters.jaeger_storage_exporter.trace_storage);
    expect(backends).toContain(config.extensions.jaeger_query.storage.traces);
    for (const name of backends) expect(config.extensions.jaeger_storage.backends[name].memory.max_traces, name).toBeGreaterThan(0);
  });

  test("it listens where the collector sends and where the chart's probes and Service look", () => {
    const config = jaegerConfig();
    expect(config.receivers.otlp.protocols.grpc.endpoint).toBe(`0.0.0.0:${OTLP_GRPC_PORT}`);
    // The chart's Deployment probes /status on 13133 (templates/jaeger/jaeger-deploy.yaml): healthcheckv2's default path.
    expect(config.extensions.healthcheckv2).toEqual({ use_v2: true, http: { endpoint: "0.0.0.0:13133" } });
    // jaeger_query's default address is :16686 (ports.QueryHTTP), which the chart's Service exposes as http-query.
    expect(config.extensions.jaeger_query.http).toBeUndefined();
    expect(new URL(JAEGER_QUERY_URL).port).toBe("16686");
    expect(new URL(JAEGER_QUERY_URL).hostname).toBe(serviceHost(TELEMETRY_RELEASES.jaeger, MONITORING_NAMESPACE));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Loki and Alloy

describe("Loki: one single-binary pod on its filesystem", () => {
  test("monolithic with one replica, the scalable targets off, one tenant, and a schema on the filesystem", () => {
    const loki = values("loki.yaml");
    expect(loki.deploymentMode).toBe("Monolithic");
    expect(loki.singleBinary.replicas, "the chart refuses more than one on a filesystem").toBe(1);
    for (const target of ["read", "write", "backend"]) expect(loki[target].replicas, target).toBe(0);
    expect(loki.loki.auth_enabled, "Alloy and Grafana send no X-Scope-OrgID").toBe(false);
    expect(loki.loki.storage.type).toBe("filesystem");
    for (const config of loki.loki.schemaConfig.configs) expect(config.object_store).toBe(loki.loki.storage.type);
    // Loki refuses a retention without the store its deletes are recorded in.
    if (loki.loki.compactor?.retention_enabled) expect(loki.loki.compactor.delete_request_store).toBe(loki.loki.storage.type);
  });

  test("with the gateway off, Grafana and Alloy reach Loki's own Service on its HTTP port", () => {
    expect(values("loki.yaml").gateway.enabled).toBe(false);
    // The chart names the Service by the release (loki.fullname) and serves loki.server.http_listen_port, 3100 by default.
    expect(new URL(LOKI_URL).hostname).toBe(serviceHost(TELEMETRY_RELEASES.loki, MONITORING_NAMESPACE));
    expect(new URL(LOKI_URL).port).toBe("3100");
  });
});

interface AlloyComponent {
  name: string;
  label: string;
  body: string;
}

/** The top-level components of an Alloy configuration (`<name> "<label>" { ... }`), with their bodies; throws on unbalanced braces. */
function alloyComponents(text: string): AlloyComponent[] {
  // Whole-line comments only: a URL's // is not one.
  const code = text.replace(/^\s*\/\/.*$/gm, "");
  const components: AlloyComponent[] = [];
  const header = /([a-z_]+(?:\.[a-z_]+)+)\s+"([^"]+)"\s*\{/g;
  for (let match = header.exec(code); match; match = header.exec(code)) {
    let depth = 1;
    let end = header.lastIndex;
    for (; end < code.length && depth > 0; end++) {
      if (code[end] === "{") depth++;
      else if (code[end] === "}") depth--;
    }
    if (depth !== 0) throw new Error(`${match[1]} "${match[2]}": unbalanced braces`);
    components.push({ name: match[1]!, label: match[2]!, body: code.slice(header.lastIndex, end - 1) });
    header.lastIndex = end;
  }
  return components;
}

/** Components of Alloy 1.18 (docs/sources/reference/components at v1.18.1) this configuration uses, and what each exports. */
const ALLOY_EXPORTS: Record<string, string[]> = {
  "discovery.kubernetes": ["targets"],
  "discovery.relabel": ["output", "rules"],
  "loki.source.kubernetes": [],
  "loki.process": ["receiver"],
  "loki.write": ["receiver"],
};

/** References to other components' exports that do not resolve: an unknown component, an undeclared label or a missing export. */
function alloyProblems(components: AlloyComponent[]): string[] {
  const problems: string[] = [];
  const declared = new Set(components.map((c) => `${c.name}.${c.label}`));
  for (const c of components) {
    if (!(c.name in ALLOY_EXPORTS)) problems.push(`${c.name}: not a component this check knows`);
    const refs = c.body.replace(/"[^"]*"/g, '""').matchAll(/\b((?:discovery|loki)\.[a-z_]+(?:\.[a-z_]+)?)\.([a-z_]+)\.([a-z_]+)\b/g);
    for (const [, name, label, field] of refs) {
      if (!declared.has(`${name}.${label}`)) problems.push(`${c.name} "${c.label}" refers to ${name}.${label}, which is not declared`);
      else if (!ALLOY_EXPORTS[name!]?.includes(field!)) problems.push(`${name}.${label} exports no ${field}`);
    }
  }
  return problems;
}

/** Prometheus' (and Alloy's discovery's) name for a pod label: every character outside [a-zA-Z0-9_] becomes `_`. */
const podLabelMeta = (label: string) => `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, "_")}`;

describe("Alloy: every pod's log into Loki, with the labels the runbook's queries use", () => {
  const alloy = values("alloy.yaml");
  const components = alloyComponents(alloy.alloy.configMap.content);
  const component = (name: string) => components.filter((c) => c.name === name);

  test("its configuration's components are Alloy's and every reference resolves", () => {
    expect(components.map((c) => c.name)).toEqual(Object.keys(ALLOY_EXPORTS));
    expect(alloyProblems(components)).toEqual([]);
    const broken = alloyComponents(alloy.alloy.configMap.content.replace("loki.write.loki.receiver", "loki.write.local.receiver"));
    expect(alloyProblems(broken)).toEqual(['loki.process "pods" refers to loki.write.local, which is not declared']);
    expect(() => alloyComponents('loki.write "x" { endpoint {')).toThrow(/unbalanced/);
  });

  test("one replica reads through the API server (no clustering, so no line twice), and pushes to Loki's Service", () => {
    expect(alloy.controller).toEqual({ type: "deployment", replicas: 1 });
    expect(component("loki.source.kubernetes")).toHaveLength(1);
    expect(component("loki.write")[0]!.body).toContain(`url = "${LOKI_URL}/loki/api/v1/push"`);
  });

  test("streams are labelled namespace, pod, container and app; app is the function's Knative Service, or source-<consumer>", () => {
    const relabel = component("discovery.relabel")[0]!.body;
    const rules = [...relabel.matchAll(/rule\s*\{([^}]*)\}/g)].map(([, rule]) => ({
      source: /source_labels\s*=\s*\["([^"]+)"\]/.exec(rule!)?.[1],
      target: /target_label\s*=\s*"([^"]+)"/.exec(rule!)?.[1],
      replacement: /replacement\s*=\s*"([^"]+)"/.exec(rule!)?.[1],
    }));
    expect(new Set(rules.map((r) => r.target))).toEqual(new Set(["namespace", "pod", "container", "app"]));
    const app = rules.filter((r) => r.target === "app");
    // The last matching rule wins: the Knative Service label last, so a function's pods (and their queue-proxy) are the function.
    expect(app.at(-1)!.source).toBe(podLabelMeta("serving.knative.dev/service"));
    expect(app.at(-2)).toEqual({ source: podLabelMeta(SOURCE_LABEL), target: "app", replacement: "source-$1" });
  });

  test("each JSON line's trace_id and span_id become structured metadata, not labels; its level a label", () => {
    const process = component("loki.process")[0]!.body;
    const stage = (name: string) => new RegExp(`stage\\.${name}\\s*\\{([\\s\\S]*?)\\n\\s*\\}`).exec(process)?.[1] ?? "";
    for (const field of ["trace_id", "span_id", "level"]) expect(stage("json"), field).toMatch(new RegExp(`\\b${field}\\s*=`));
    for (const field of ["trace_id", "span_id"]) expect(stage("structured_metadata"), field).toMatch(new RegExp(`\\b${field}\\s*=`));
    expect(stage("labels")).not.toMatch(/trace_id|span_id/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Grafana

interface Datasource {
  name: string;
  type: string;
  uid: string;
  access: string;
  url: string;
  jsonData: Record<string, any>;
}

describe("Grafana: a log line's trace_id opens its trace, a span's logs are a click away", () => {
  const grafana = parse(read(VALUES_FILE)).grafana;
  const datasources: Datasource[] = grafana.additionalDataSources;
  const byType = (type: string) => datasources.find((d) => d.type === type)!;

  test("each datasource has only fields Grafana's provisioning knows (a misspelt tracesToLogsV2 would be ignored)", () => {
    const validate = validator("grafanaDatasource");
    for (const datasource of datasources) expect(validate(datasource), `${datasource.name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    const jaeger = structuredClone(byType("jaeger"));
    jaeger.jsonData = { tracesToLogsv2: jaeger.jsonData.tracesToLogsV2 };
    expect(validate(jaeger)).toBe(false);
  });

  test("Jaeger and Loki are provisioned with their uids and in-cluster addresses, through Grafana's proxy", () => {
    expect(datasources.map((d) => d.type).sort()).toEqual(["jaeger", "loki"]);
    expect(byType("jaeger")).toMatchObject({ uid: DATASOURCE_UIDS.jaeger, url: JAEGER_QUERY_URL, access: "proxy" });
    expect(byType("loki")).toMatchObject({ uid: DATASOURCE_UIDS.loki, url: LOKI_URL, access: "proxy" });
    const uids = [...datasources.map((d) => d.uid), prometheusDatasource().uid];
    expect(new Set(uids).size).toBe(uids.length);
    expect(grafana.sidecar.datasources.enabled ?? true, "the chart provisions additionalDataSources through this sidecar").toBe(true);
  });

  test("Loki's derived field finds the trace_id in a line as shared/log.ts writes it and opens it in the Jaeger datasource", () => {
    const [field] = byType("loki").jsonData.derivedFields;
    expect(field).toMatchObject({ name: "trace_id", matcherType: "regex", datasourceUid: DATASOURCE_UIDS.jaeger });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const line = JSON.stringify({
      level: "info",
      time: new Date().toISOString(),
      msg: "request",
      trace_id: traceId,
      span_id: "00f067aa0ba902b7",
    });
    expect(new RegExp(field.matcherRegex).exec(line)?.[1]).toBe(traceId);
    expect(new RegExp(field.matcherRegex).exec(JSON.stringify({ level: "info", msg: "no trace" }))).toBeNull();
    // For an internal link the url is the query: the trace id itself.
    expect(field.url).toBe("$${__value.raw}");
  });

  test("Jaeger's trace-to-logs asks the Loki datasource by the app label Alloy sets from service.name", () => {
    const link = byType("jaeger").jsonData.tracesToLogsV2;
    expect(link).toMatchObject({ datasourceUid: DATASOURCE_UIDS.loki, filterByTraceID: true });
    expect(link.tags).toEqual([{ key: "service.name", value: "app" }]);
  });

  test("every Grafana variable is written $${...}: provisioning would expand a bare ${...} as an environment variable", () => {
    const text = JSON.stringify(datasources);
    expect(text).toContain("$${");
    expect(text.replaceAll("$${", "")).not.toContain("${");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// infra/cluster.sh and the runbook

const CHARTS = [
  { release: TELEMETRY_RELEASES.jaeger, chart: "jaegertracing/jaeger", version: "JAEGER_CHART_VERSION", values: "jaeger.yaml" },
  {
    release: TELEMETRY_RELEASES.collector,
    chart: "open-telemetry/opentelemetry-collector",
    version: "OTEL_COLLECTOR_CHART_VERSION",
    values: "otel-collector.yaml",
  },
  { release: TELEMETRY_RELEASES.loki, chart: "grafana-community/loki", version: "LOKI_CHART_VERSION", values: "loki.yaml" },
  { release: TELEMETRY_RELEASES.alloy, chart: "grafana/alloy", version: "ALLOY_CHART_VERSION", values: "alloy.yaml" },
];

const REPOSITORIES: Record<string, string> = {
  jaegertracing: "https://jaegertracing.github.io/helm-charts",
  "open-telemetry": "https://open-telemetry.github.io/opentelemetry-helm-charts",
  "grafana-community": "https://grafana-community.github.io/helm-charts",
  grafana: "https://grafana.github.io/helm-charts",
};

const pinned = (variable: string) => new RegExp(`^${variable}=(\\S+)$`, "m").exec(clusterScript)?.[1];

describe("infra/cluster.sh installs the four pinned charts, and the runbook gives their versions", () => {
  test.each(CHARTS)("$chart: a pinned version, its values file, in the monitoring namespace as release $release", (chart) => {
    expect(pinned(chart.version)).toMatch(/^\d+\.\d+\.\d+$/);
    const [repo] = chart.chart.split("/");
    expect(clusterScript).toContain(`helm repo add ${repo} ${REPOSITORIES[repo!]} --force-update`);
    const install = clusterScript
      .replace(/\\\n\s*/g, "")
      .split("\n")
      .find((line) => line.includes(`helm upgrade --install ${chart.release} ${chart.chart} `));
    expect(install, `no helm upgrade --install ${chart.release} ${chart.chart}`).toBeDefined();
    expect(install).toContain(`--version "\${${chart.version}}"`);
    expect(install).toContain(`-n "\${MONITORING_NS}"`);
    expect(install).toContain(`-f infra/values/${chart.values}`);
    expect(install).toContain("--wait");
    expect(/^MONITORING_NS=(\S+)$/m.exec(clusterScript)?.[1]).toBe(MONITORING_NAMESPACE);
  });

  test("Jaeger before the collector that exports to it; all after Grafana and before the functions are deployed", () => {
    const telemetry = /^install_telemetry\(\) \{\n([\s\S]*?)\n\}/m.exec(clusterScript)![1]!;
    const at = (release: string) => telemetry.indexOf(`helm upgrade --install ${release} `);
    expect(at(TELEMETRY_RELEASES.jaeger)).toBeLessThan(at(TELEMETRY_RELEASES.collector));
    expect(at(TELEMETRY_RELEASES.loki)).toBeLessThan(at(TELEMETRY_RELEASES.alloy));
    const install = /^install\(\) \{\n([\s\S]*?)\n\}/m
      .exec(clusterScript)![1]!
      .split("\n")
      .map((line) => line.trim());
    expect(install.indexOf("install_telemetry")).toBeGreaterThan(install.indexOf("install_monitoring"));
    expect(install.indexOf("install_monitoring")).toBeGreaterThanOrEqual(0);
  });

  test("the runbook's Versions table gives each pinned chart version", () => {
    const runbook = read("docs/runbook.md");
    const versions = runbook.slice(runbook.indexOf("## Versions"));
    for (const chart of CHARTS) {
      const version = pinned(chart.version)!.replaceAll(".", "\\.");
      expect(versions, chart.chart).toMatch(new RegExp(`${chart.chart.split("/")[1]}[^\\n]*\\| ${version}[ |(]`));
    }
  });
});

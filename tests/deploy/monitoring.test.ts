// Monitoring, checked without a cluster: the Grafana boards are valid dashboard JSON whose every query
// parses as PromQL and reads only metrics that exist (the code's own, from its registry, or Knative's,
// the NATS exporter's, cAdvisor's and kube-state-metrics', from the cited list); the scrape targets
// validate against prometheus-operator's CRD schema and select pods, ports and labels that the deploy
// manifests really have; and the chart values, infra/cluster.sh and the runbook agree.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { ConfigMap } from "kubernetes-models/v1";
import { beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { FUNCTIONS } from "../../esbuild.config";
import { ROOT, SOURCE_LABEL, SOURCE_PORT_NAME } from "../../infra/manifests/names";
import { FUNCTION_CONTAINER, JOBS, TARGET_LABELS, VALUES_FILE, dashboardLabel, prometheusDatasource } from "../../infra/monitoring/config";
import { EXTERNAL_METRICS } from "../../infra/monitoring/external-metrics";
import { DASHBOARDS_DIR, MONITORS_FILE, dashboardConfigMaps, monitoringManifests } from "../../infra/monitoring/render";
import { CONSUMERS } from "../../shared/events/definitions";
import { containers, ofKind, parseText, readFolder, readYaml, type Manifest } from "./manifests";
import { GRAFANA_INTERVALS, analyze } from "./promql";
import { exposedNames, registeredMetrics, type RegisteredMetric } from "./registered-metrics";

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
}

interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query: string }[] };
}

/** The committed dashboard files, by file name: what Grafana will be given. */
function committedDashboards(): Map<string, Dashboard> {
  const files = readdirSync(join(ROOT, DASHBOARDS_DIR)).filter((file) => file.endsWith(".json"));
  return new Map(files.map((file) => [file, JSON.parse(readFileSync(join(ROOT, DASHBOARDS_DIR, file), "utf8")) as Dashboard]));
}

/** Every query of every board, with where it is, for failure messages. */
function queries(): { where: string; expr: string; board: Dashboard }[] {
  return [...committedDashboards()].flatMap(([file, board]) =>
    board.panels.flatMap((panel) =>
      (panel.targets ?? []).map((t) => ({ where: `${file} "${panel.title}" ${t.refId}`, expr: t.expr, board })),
    ),
  );
}

/** The own metrics are the code's: their names start like this. Anything else must be an external, cited one. */
const OWN_METRIC = /^(uitgo_|http_request_duration_seconds)/;

/** Labels a scrape puts on every sample besides the metric's own: Prometheus' and the monitors' (TARGET_LABELS). */
const SCRAPE_LABELS = new Set(["job", "instance", "namespace", "pod", "container", "endpoint", ...Object.values(TARGET_LABELS)]);

let registered: Map<string, RegisteredMetric>;
let bySeries: Map<string, RegisteredMetric>;
beforeAll(async () => {
  registered = await registeredMetrics();
  bySeries = new Map([...registered.values()].flatMap((metric) => exposedNames(metric).map((name) => [name, metric] as const)));
}, 60_000);

const monitorDocs = () => readYaml(MONITORS_FILE);

/** The job each monitor's relabelings set. */
function jobOf(monitor: Manifest): string | undefined {
  const endpoints: { relabelings?: { targetLabel?: string; replacement?: string }[] }[] =
    monitor.spec.podMetricsEndpoints ?? monitor.spec.endpoints;
  return endpoints.flatMap((e) => e.relabelings ?? []).find((r) => r.targetLabel === "job")?.replacement;
}

describe("dashboards", () => {
  test("there is one JSON file per board, each valid JSON with a unique uid and a title", () => {
    const boards = committedDashboards();
    expect([...boards.keys()].sort()).toEqual(["jetstream.json", "overview.json", "scaling.json"]);
    const uids = [...boards.values()].map((b) => b.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const board of boards.values()) expect(board.title).toBeTruthy();
  });

  test("panel ids are unique within a board, and panels stay inside the 24-column grid without overlapping", () => {
    for (const [file, board] of committedDashboards()) {
      const ids = board.panels.map((p) => p.id);
      expect(new Set(ids).size, `${file}: duplicate panel id`).toBe(ids.length);
      const taken = new Set<string>();
      for (const { title, gridPos } of board.panels) {
        expect(gridPos.x + gridPos.w, `${file} "${title}"`).toBeLessThanOrEqual(24);
        for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++) {
          for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++) {
            expect(taken.has(`${x},${y}`), `${file} "${title}" overlaps another panel`).toBe(false);
            taken.add(`${x},${y}`);
          }
        }
      }
    }
  });

  test("every panel with queries, and every query, names the Prometheus datasource the chart provisions", () => {
    const values = parse(readFileSync(join(ROOT, VALUES_FILE), "utf8"));
    const expected = { type: "prometheus", uid: values.grafana.sidecar.datasources.uid };
    expect(prometheusDatasource()).toEqual(expected);
    for (const [file, board] of committedDashboards()) {
      const panels = board.panels.filter((p) => p.type !== "row");
      expect(panels.length, file).toBeGreaterThan(0);
      for (const panel of panels) {
        expect(panel.targets?.length, `${file} "${panel.title}" has no query`).toBeGreaterThan(0);
        expect(panel.datasource, `${file} "${panel.title}"`).toEqual(expected);
        for (const target of panel.targets!) expect(target.datasource, `${file} "${panel.title}" ${target.refId}`).toEqual(expected);
      }
    }
  });

  test("every query parses as PromQL, with Prometheus' own grammar", () => {
    for (const { where, expr } of queries()) expect(analyze(expr).errors, `${where}: ${expr}`).toEqual([]);
  });

  test("every variable a query uses is one its board defines, or one of Grafana's interval variables", () => {
    for (const { where, expr, board } of queries()) {
      const defined = new Set(board.templating.list.map((v) => v.name));
      const used = [...expr.replace(GRAFANA_INTERVALS, "").matchAll(/\$\{?([A-Za-z_]\w*)/g)].map((m) => m[1]!);
      for (const name of used) expect(defined.has(name), `${where} uses $${name}`).toBe(true);
    }
  });

  test("the Function and Consumer variables list exactly the code's functions and consumers", () => {
    const variables = [...committedDashboards().values()].flatMap((b) => b.templating.list);
    for (const variable of variables) {
      const expected = variable.name === "function" ? FUNCTIONS : CONSUMERS.map((c) => c.config.durable_name);
      expect(variable.query.split(",").sort(), variable.name).toEqual([...expected].sort());
    }
  });

  test("every selector names its metric", () => {
    for (const { where, expr } of queries()) {
      for (const { metric } of analyze(expr).selectors) expect(metric, `${where}: ${expr}`).toBeDefined();
    }
  });

  test("every uitgo_* and http_request_duration_seconds metric queried is one the deployed code registers", () => {
    expect(registered.has("http_request_duration_seconds"), "shared/metrics.ts' own histogram").toBe(true);
    for (const { where, expr } of queries()) {
      for (const { metric } of analyze(expr).selectors) {
        if (metric && OWN_METRIC.test(metric)) expect(bySeries.has(metric), `${where}: ${metric} is not registered by the code`).toBe(true);
      }
    }
  });

  test("every other metric queried is in the cited list of external metrics, which names none of the code's", () => {
    for (const name of EXTERNAL_METRICS) {
      expect(OWN_METRIC.test(name) || bySeries.has(name), `${name} is the code's own, not external`).toBe(false);
    }
    for (const { where, expr } of queries()) {
      for (const { metric } of analyze(expr).selectors) {
        if (metric && !OWN_METRIC.test(metric))
          expect(EXTERNAL_METRICS.has(metric), `${where}: ${metric} is not in infra/monitoring/external-metrics.ts`).toBe(true);
      }
    }
  });

  test("queries of the code's metrics filter and group only on labels those metrics have or the scrape adds", () => {
    const allowed = (metric: RegisteredMetric) =>
      new Set([...metric.labelNames, ...SCRAPE_LABELS, ...(metric.type === "histogram" ? ["le"] : [])]);
    for (const { where, expr } of queries()) {
      const { selectors, aggregations } = analyze(expr);
      for (const { metric, matchers } of selectors) {
        const own = metric && bySeries.get(metric);
        if (!own) continue;
        for (const { label } of matchers) expect(allowed(own).has(label), `${where}: ${metric} has no label ${label}`).toBe(true);
      }
      for (const { by, metrics } of aggregations) {
        const own = metrics.map((m) => bySeries.get(m));
        if (own.length === 0 || own.some((m) => !m)) continue;
        for (const label of by)
          expect(
            own.every((m) => allowed(m!).has(label)),
            `${where}: grouped by ${label}, which ${metrics.join(", ")} lack`,
          ).toBe(true);
      }
    }
  });

  test("every job a query selects is one a monitor sets", () => {
    const jobs = new Set(monitorDocs().map(jobOf));
    for (const { where, expr } of queries()) {
      for (const { matchers } of analyze(expr).selectors) {
        for (const { label, value } of matchers)
          if (label === "job") expect(jobs.has(value), `${where}: no monitor sets job ${value}`).toBe(true);
      }
    }
  });

  test("the checks have teeth: a parse error, an unknown metric and a misspelt label are caught", () => {
    expect(analyze("sum by (function) (rate(uitgo_trips_created_total[5m])").errors).not.toEqual([]);
    expect(analyze('rate(x{job="a"}[$__rate_interval])').errors).toEqual([]);
    expect(bySeries.has("uitgo_trips_booked_total")).toBe(false);
    const trips = bySeries.get("uitgo_trips_created_total")!;
    expect(trips.labelNames).toContain("region");
    expect(trips.labelNames).not.toContain("regoin");
    expect(analyze('sum by (regoin) (rate(uitgo_trips_created_total{service="bike"}[5m]))').aggregations[0]).toEqual({
      by: ["regoin"],
      metrics: ["uitgo_trips_created_total"],
    });
  });
});

describe("scrape targets", () => {
  test("every PodMonitor and ServiceMonitor validates against prometheus-operator's CRD schema", () => {
    const docs = monitorDocs();
    expect(docs.length).toBeGreaterThan(0);
    for (const m of docs) {
      const { file: _, ...resource } = m;
      if (m.kind === "PodMonitor") new PodMonitor(resource as never).validate();
      else if (m.kind === "ServiceMonitor") new ServiceMonitor(resource as never).validate();
      else throw new Error(`${m.file}: unexpected ${m.kind}`);
    }
    const broken = structuredClone(docs.find((m) => m.kind === "PodMonitor")!);
    broken.spec.podMetricsEndpoints[0].relabelings[0].action = "rename";
    const { file: _, ...resource } = broken;
    expect(() => new PodMonitor(resource as never).validate()).toThrow(/action/);
  });

  test("each monitor sets its own job, and every job named in config.ts has a monitor", () => {
    const jobs = monitorDocs().map(jobOf);
    expect(new Set(jobs).size).toBe(jobs.length);
    expect([...jobs].sort()).toEqual(Object.values(JOBS).sort());
  });

  test("the function monitors scrape the container infra/manifests/ deploys, on Knative's port names", () => {
    for (const service of ofKind(readFolder("knative"), "Service")) {
      expect(
        containers(service).map((c) => c.name),
        service.metadata.name,
      ).toEqual([FUNCTION_CONTAINER]);
    }
    const ports = monitorDocs()
      .filter((m) => m.kind === "PodMonitor" && m.spec.selector.matchExpressions?.[0]?.key === "serving.knative.dev/service")
      .map((m) => m.spec.podMetricsEndpoints[0].port)
      .sort();
    expect(ports).toEqual(["http-usermetric", "user-port"]);
  });

  test("the source monitor selects every ContainerSource's pods by their label, on a port they declare", () => {
    const monitor = monitorDocs().find((m) => jobOf(m) === JOBS.sources)!;
    expect(monitor.spec.selector.matchExpressions).toEqual([{ key: SOURCE_LABEL, operator: "Exists" }]);
    expect(monitor.spec.podMetricsEndpoints[0].port).toBe(SOURCE_PORT_NAME);
    const sources = ofKind(readFolder("knative"), "ContainerSource");
    expect(sources).toHaveLength(CONSUMERS.length);
    for (const source of sources) {
      expect(source.spec.template.metadata.labels, source.metadata.name).toHaveProperty([SOURCE_LABEL]);
      const [container] = containers(source);
      const port = container.ports?.find((p: { name: string }) => p.name === SOURCE_PORT_NAME);
      expect(port, `${source.metadata.name} declares no ${SOURCE_PORT_NAME} port`).toBeDefined();
      expect(container.readinessProbe.httpGet.port, "/metrics is served where the probes are").toBe(port.containerPort);
    }
  });

  test("relabelings copy pod labels under the name Prometheus gives them, onto the target labels the boards use", () => {
    const sourceLabels = monitorDocs().flatMap((m) =>
      (m.spec.podMetricsEndpoints ?? m.spec.endpoints).flatMap(
        (e: { relabelings: { sourceLabels?: string[]; targetLabel: string }[] }) => e.relabelings,
      ),
    );
    const copied = sourceLabels.filter((r) => r.sourceLabels);
    expect(copied.map((r) => r.targetLabel).sort()).toEqual(["function", "function", "revision", "revision", "source"]);
    for (const { sourceLabels: [meta] = [] } of copied) expect(meta).toMatch(/^__meta_kubernetes_pod_label_[a-zA-Z0-9_]+$/);
    expect(copied.find((r) => r.targetLabel === TARGET_LABELS.source)!.sourceLabels).toEqual([
      "__meta_kubernetes_pod_label_uitgo_dev_source",
    ]);
  });
});

describe("dashboard ConfigMaps", () => {
  const configMaps = () => parseText(monitoringManifests(), "monitoring").filter((m) => m.kind === "ConfigMap");

  test("one ConfigMap per board, labelled for Grafana's sidecar, holding the committed JSON", () => {
    const boards = committedDashboards();
    const maps = configMaps();
    expect(maps).toHaveLength(boards.size);
    expect(dashboardConfigMaps()).toHaveLength(boards.size);
    for (const map of maps) {
      new ConfigMap(map as never).validate();
      expect(map.metadata.labels).toMatchObject(dashboardLabel());
      const [[file, text]] = Object.entries(map.data!) as [[string, string]];
      expect(JSON.parse(text)).toEqual(boards.get(file));
    }
  });

  test("each fits kubectl apply's last-applied annotation (256 KiB)", () => {
    for (const map of configMaps()) expect(Buffer.byteLength(JSON.stringify(map)), map.metadata.name).toBeLessThan(256 * 1024);
  });

  test("the sidecar label is the one the chart's values give Grafana", () => {
    const { label, labelValue } = parse(readFileSync(join(ROOT, VALUES_FILE), "utf8")).grafana.sidecar.dashboards;
    expect(dashboardLabel()).toEqual({ [label]: labelValue });
  });
});

describe("the cluster's monitoring pieces agree", () => {
  const values = () => parse(readFileSync(join(ROOT, VALUES_FILE), "utf8"));
  const clusterScript = () => readFileSync(join(ROOT, "infra/cluster.sh"), "utf8");

  test("Prometheus selects monitors without the chart's release label, and Grafana's sidecar loads dashboards", () => {
    const { prometheus, grafana, alertmanager } = values();
    expect(prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues).toBe(false);
    expect(prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues).toBe(false);
    expect(grafana.sidecar.dashboards.enabled).toBe(true);
    expect(alertmanager.enabled).toBe(false);
  });

  test("the NATS chart runs its exporter with a PodMonitor", () => {
    const nats = parse(readFileSync(join(ROOT, "infra/values/nats.yaml"), "utf8"));
    expect(nats.promExporter).toEqual({ enabled: true, podMonitor: { enabled: true } });
    expect(nats.config.jetstream.enabled, "the exporter reports consumers only with -jsz, which the chart adds when JetStream is on").toBe(
      true,
    );
  });

  test("infra/cluster.sh pins the chart, installs it before NATS (whose PodMonitor needs its CRDs), and turns Knative's metrics on", () => {
    const script = clusterScript();
    const version = /^KUBE_PROMETHEUS_STACK_VERSION=(\S+)$/m.exec(script)?.[1];
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    const install = /^install\(\) \{\n([\s\S]*?)\n\}/m.exec(script)![1]!;
    const steps = install.split("\n").map((line) => line.trim());
    expect(steps.indexOf("install_monitoring")).toBeGreaterThan(steps.indexOf("install_knative"));
    expect(steps.indexOf("install_monitoring")).toBeLessThan(steps.indexOf("install_nats"));
    expect(script).toMatch(/"metrics-protocol":"prometheus"/);
    expect(script).toMatch(/"request-metrics-protocol":"prometheus"/);
    expect(script).toContain("infra/values/monitoring.yaml");
  });

  test("the runbook's Versions table gives the pinned chart version", () => {
    const version = /^KUBE_PROMETHEUS_STACK_VERSION=(\S+)$/m.exec(clusterScript())![1]!;
    const runbook = readFileSync(join(ROOT, "docs/runbook.md"), "utf8");
    const versions = runbook.slice(runbook.indexOf("## Versions"));
    expect(versions).toMatch(new RegExp(`kube-prometheus-stack[^\\n]*\\| ${version.replaceAll(".", "\\.")} \\|`));
  });

  test("the committed monitors file is what the manifests render (infra/manifests/cli.ts --check covers it too)", () => {
    expect(readFileSync(join(ROOT, MONITORS_FILE), "utf8")).toContain("kind: PodMonitor");
    expect(parseText(monitoringManifests(), "monitoring").filter((m) => m.kind !== "ConfigMap")).toEqual(
      monitorDocs().map(({ file: _, ...m }) => ({ ...m, file: "monitoring" })),
    );
  });
});

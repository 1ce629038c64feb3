// Where monitoring lives and the names its two halves share: the scrape jobs and target labels that
// scrape.ts sets and the dashboards select on. What Grafana itself is told (the label its sidecar looks for
// on dashboard ConfigMaps, the Prometheus datasource's uid) is read from the chart's values, so that
// infra/values/monitoring.yaml stays the one place it is set.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ROOT } from "../manifests/names";

export const MONITORING_NAMESPACE = "monitoring";
export const VALUES_FILE = "infra/values/monitoring.yaml";

/** Scrape job names: each monitor in scrape.ts sets one, and the dashboards select on them. */
export const JOBS = {
  functions: "uitgo-functions",
  queueProxy: "knative-queue-proxy",
  sources: "uitgo-sources",
  activator: "knative-activator",
  autoscaler: "knative-autoscaler",
} as const;

/**
 * Labels the scrape puts on every sample, copied from the pod's labels. The code's own metrics carry no
 * function name (each process is one function), so this is what tells them apart; `source` is not named
 * `consumer` because the sources' metrics already have a `consumer` label of their own.
 */
export const TARGET_LABELS = { function: "function", revision: "revision", source: "source" } as const;

/** The container of a Knative Service that runs the function (as infra/manifests/function-service.ts names it), for per-container figures. */
export const FUNCTION_CONTAINER = "function";

interface ChartValues {
  grafana: {
    sidecar: {
      dashboards: { label: string; labelValue: string };
      datasources: { uid: string };
    };
  };
}

let chartValues: ChartValues | undefined;

function values(): ChartValues {
  chartValues ??= parse(readFileSync(join(ROOT, VALUES_FILE), "utf8")) as ChartValues;
  return chartValues;
}

/** The label Grafana's dashboard sidecar loads ConfigMaps by. */
export function dashboardLabel(): Record<string, string> {
  const { label, labelValue } = values().grafana.sidecar.dashboards;
  return { [label]: labelValue };
}

/** The Prometheus datasource the chart provisions, as a panel names it. */
export function prometheusDatasource(): { type: "prometheus"; uid: string } {
  return { type: "prometheus", uid: values().grafana.sidecar.datasources.uid };
}

// The monitoring files, rendered like every other manifest (infra/manifests/render.ts merges them into its
// render and --check): each board as Grafana dashboard JSON under infra/monitoring/dashboards/, and the
// scrape targets in infra/monitoring/monitors.yaml. For the cluster, the same boards are wrapped in
// ConfigMaps that Grafana's sidecar loads (monitoringManifests, applied by infra/cluster.sh).
import { Document } from "yaml";
import { HEADER, PART_OF } from "../manifests/names";
import { yamlFile } from "../manifests/yaml";
import { jetstreamBoard } from "./boards/jetstream";
import { overviewBoard } from "./boards/overview";
import { scalingBoard } from "./boards/scaling";
import { MONITORING_NAMESPACE, dashboardLabel } from "./config";
import { dashboard } from "./grafana";
import { monitors } from "./scrape";

export const DASHBOARDS_DIR = "infra/monitoring/dashboards";
export const MONITORS_FILE = "infra/monitoring/monitors.yaml";

/** Each board by name: the JSON file's name and its ConfigMap's. */
export function dashboards(): Map<string, Record<string, unknown>> {
  return new Map([
    ["overview", dashboard(overviewBoard())],
    ["scaling", dashboard(scalingBoard())],
    ["jetstream", dashboard(jetstreamBoard())],
  ]);
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function monitorsFile(): string {
  const docs = monitors();
  docs[0]!.commentBefore = ` ${HEADER}\n${docs[0]!.commentBefore ?? ""}`;
  return yamlFile(docs);
}

/** The committed files, path relative to the repository → contents. */
export function monitoringFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [name, board] of dashboards()) files.set(`${DASHBOARDS_DIR}/${name}.json`, json(board));
  files.set(MONITORS_FILE, monitorsFile());
  return files;
}

/** A ConfigMap per board, labelled for Grafana's dashboard sidecar. */
export function dashboardConfigMaps(): Document[] {
  return [...dashboards()].map(
    ([name, board]) =>
      new Document({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: `uitgo-dashboard-${name}`, namespace: MONITORING_NAMESPACE, labels: { ...PART_OF, ...dashboardLabel() } },
        data: { [`${name}.json`]: json(board) },
      }),
  );
}

/** What infra/cluster.sh applies: the scrape targets and the dashboard ConfigMaps. */
export function monitoringManifests(): string {
  return yamlFile([...monitors(), ...dashboardConfigMaps()]);
}

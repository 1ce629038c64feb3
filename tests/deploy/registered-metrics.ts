// The metrics the deployed code registers, read from its own registry rather than from a list kept here:
// every module that the functions' and sources' bundles link and that imports shared/metrics.ts is
// imported (registering its metrics as it loads), then shared/metrics.ts' registry is asked.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { FUNCTIONS, SOURCES, bundleMetafile } from "../../esbuild.config";
import { ROOT } from "../../infra/manifests/names";

const METRICS_MODULE = "shared/metrics.ts";

export interface RegisteredMetric {
  name: string;
  type: string;
  labelNames: readonly string[];
}

/** The modules of the deployed bundles that register metrics, relative to the repository. */
async function registeringModules(): Promise<string[]> {
  const entryPoints = [
    ...FUNCTIONS.map((name) => join(ROOT, "functions", name, "index.ts")),
    ...SOURCES.map((name) => join(ROOT, "sources", name, "index.ts")),
  ];
  const { inputs } = await bundleMetafile(entryPoints);
  return Object.entries(inputs)
    .filter(([, input]) => input.imports.some((i) => i.path === METRICS_MODULE))
    .map(([path]) => path);
}

/** Every metric in the registry once the registering modules are loaded, by name. */
export async function registeredMetrics(): Promise<Map<string, RegisteredMetric>> {
  const modules = await registeringModules();
  if (modules.length === 0) throw new Error(`no bundled module imports ${METRICS_MODULE}`);
  for (const path of modules) await import(pathToFileURL(join(ROOT, path)).href);
  const { registry } = await import("../../shared/metrics");
  const metrics = new Map<string, RegisteredMetric>();
  for (const { name, type } of await registry.getMetricsAsJSON()) {
    const metric = registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] };
    metrics.set(name, { name, type: String(type), labelNames: metric.labelNames ?? [] });
  }
  return metrics;
}

/** The series names a metric is exposed under: a histogram's _bucket, _sum and _count, anything else's own name. */
export function exposedNames(metric: RegisteredMetric): string[] {
  return metric.type === "histogram" ? ["_bucket", "_sum", "_count"].map((suffix) => metric.name + suffix) : [metric.name];
}

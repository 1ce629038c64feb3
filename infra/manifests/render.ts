// Every generated file, from the code's own definitions, and how the files on disk differ from them.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { FUNCTIONS } from "../../esbuild.config";
import { CONSUMERS, STREAMS } from "../../shared/events/definitions";
import { SCHEDULES } from "../../shared/events/schedules";
import { monitoringFiles } from "../monitoring/render";
import { PROFILES, SOURCE_PROFILES } from "../profiles";
import { configMap } from "./env";
import { knativeService } from "./function-service";
import { DEV_TAG, type TagFor } from "./images";
import { networkPolicy } from "./internal-functions";
import { containerSource, scaledObject } from "./jetstream-source";
import { kubeName, nackConsumer, nackStream } from "./nack";
import { ROOT } from "./names";
import { pingSource } from "./ping-source";
import { postgresDocs } from "./postgres";
import { storesByFunction } from "./stores";
import { yamlFile } from "./yaml";

/** The folders whose .yaml and .json files are all generated: one the code no longer implies is removed. */
const GENERATED_DIRS = ["knative", "nats/nack", "infra/monitoring", "infra/monitoring/dashboards"];
const POSTGRES_FILE = "infra/data/postgres.yaml";

/** Every consumer must name a function, and every function must have a profile: otherwise fail, naming what is missing. */
export function checkDefinitions(): void {
  const missing = FUNCTIONS.filter((name) => !PROFILES[name]);
  if (missing.length > 0) throw new Error(`no scaling profile for ${missing.join(", ")}: add one to infra/profiles.ts`);
  const stale = Object.keys(PROFILES).filter((name) => !FUNCTIONS.includes(name));
  if (stale.length > 0)
    throw new Error(`infra/profiles.ts has profiles for ${stale.join(", ")}, which are not functions (no functions/<name>/index.ts)`);
  const orphans = CONSUMERS.filter((c) => !FUNCTIONS.includes(c.config.durable_name)).map((c) => `${c.stream}/${c.config.durable_name}`);
  if (orphans.length > 0)
    throw new Error(`consumers ${orphans.join(", ")} name no function; a consumer's durable_name is the function it is delivered to`);
  const unscaled = CONSUMERS.filter((c) => !SOURCE_PROFILES[c.config.durable_name]).map((c) => c.config.durable_name);
  if (unscaled.length > 0) throw new Error(`no source profile for ${unscaled.join(", ")}: add one to SOURCE_PROFILES in infra/profiles.ts`);
}

/** Every generated file, path relative to the repository → contents. */
export async function renderAll(tag: TagFor = () => DEV_TAG): Promise<Map<string, string>> {
  checkDefinitions();
  const files = new Map<string, string>();
  files.set("knative/config.yaml", yamlFile([configMap()]));
  const stores = await storesByFunction();
  for (const name of FUNCTIONS) {
    const consumer = CONSUMERS.find((c) => c.config.durable_name === name);
    files.set(`knative/${name}.yaml`, yamlFile([knativeService(name, PROFILES[name]!, consumer, stores.get(name)!, tag)]));
  }
  for (const consumer of CONSUMERS) {
    files.set(`knative/source-${consumer.config.durable_name}.yaml`, yamlFile([containerSource(consumer, tag), scaledObject(consumer)]));
  }
  for (const schedule of SCHEDULES) files.set(`knative/ping-${schedule.name}.yaml`, yamlFile([pingSource(schedule)]));
  files.set("knative/network-policy.yaml", yamlFile([networkPolicy()]));
  for (const stream of STREAMS) files.set(`nats/nack/stream-${kubeName(stream.name)}.yaml`, yamlFile([nackStream(stream)]));
  for (const consumer of CONSUMERS) {
    files.set(`nats/nack/consumer-${kubeName(consumer.stream)}-${consumer.config.durable_name}.yaml`, yamlFile([nackConsumer(consumer)]));
  }
  files.set(POSTGRES_FILE, yamlFile(postgresDocs()));
  for (const [path, text] of monitoringFiles()) files.set(path, text);
  return files;
}

/** Generated files on disk that the code no longer implies (a function or consumer that was removed). */
export function staleFiles(files: Map<string, string>): string[] {
  return GENERATED_DIRS.flatMap((dir) =>
    existsSync(join(ROOT, dir))
      ? readdirSync(join(ROOT, dir))
          .filter((file) => file.endsWith(".yaml") || file.endsWith(".json"))
          .map((file) => `${dir}/${file}`)
          .filter((path) => !files.has(path))
      : [],
  );
}

/** What differs between the files on disk and what the code implies (`files`, from renderAll()), as readable lines. */
export function drift(files: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const [path, text] of files) {
    const full = join(ROOT, path);
    if (!existsSync(full)) problems.push(`${path} is missing`);
    else if (readFileSync(full, "utf8") !== text) problems.push(`${path} differs from what the code implies`);
  }
  for (const path of staleFiles(files)) problems.push(`${path} is for something the code no longer has`);
  return problems;
}

// The deploy manifests as the tests read them: every YAML document under a folder, with the file it came from.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { parseAllDocuments } from "yaml";
import { ROOT } from "../../infra/manifests/names";
import { REGIONS } from "../../shared/regions";

export interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [field: string]: unknown;
}

/** Every document of a YAML file (path relative to the repository); a syntax error fails loudly with the file's name. */
export function readYaml(file: string): Manifest[] {
  return parseText(readFileSync(join(ROOT, file), "utf8"), file);
}

export function parseText(text: string, file: string): Manifest[] {
  return parseAllDocuments(text)
    .filter((doc) => doc.contents !== null)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
      return { ...(doc.toJS() as Manifest), file };
    });
}

/** Every document of every .yaml file directly in a folder. */
export function readFolder(dir: string): Manifest[] {
  return readdirSync(join(ROOT, dir))
    .filter((file) => file.endsWith(".yaml"))
    .sort()
    .flatMap((file) => readYaml(`${dir}/${file}`));
}

export function ofKind(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}

/** A pod template's containers, whatever the resource (Knative Service, ContainerSource, Deployment). */
export function containers(manifest: Manifest): any[] {
  return manifest.spec?.template?.spec?.containers ?? [];
}

/** A Go duration ("1m30s", "250ms", "168h") in nanoseconds, written here independently of infra/manifests/nack.ts. */
export function parseGoDuration(text: string): number {
  const units: Record<string, number> = { h: 3_600e9, m: 60e9, s: 1e9, ms: 1e6, us: 1e3, µs: 1e3, ns: 1 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) throw new Error(`"${text}" is not a Go duration`);
  return parts.reduce((total, [, value, unit]) => total + Number(value) * units[unit!]!, 0);
}

/** What infra/cluster.sh feeds `infra/manifests/cli.ts secret`, with passwords full of URL-special characters. */
export function sampleSecretInput(): string {
  return ["JWT_SECRET=test-secret", ...REGIONS.map((r) => `password.${r}=p@ss/word:${r}`)].join("\n");
}

/** A container's environment as the pod would see it, resolving its ConfigMap and Secret references. */
export function podEnv(manifest: Manifest, configMap: Manifest, secret: Manifest): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const v of containers(manifest)[0].env) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.configMapKeyRef) {
      const { name, key } = v.valueFrom.configMapKeyRef;
      expect(name, `${manifest.file}: ${v.name}`).toBe(configMap.metadata.name);
      expect(configMap.data, `${manifest.file}: ${v.name} names a key the ConfigMap lacks`).toHaveProperty([key]);
      env[v.name] = configMap.data![key];
    } else if (v.valueFrom?.secretKeyRef) {
      const { name, key } = v.valueFrom.secretKeyRef;
      expect(name, `${manifest.file}: ${v.name}`).toBe(secret.metadata.name);
      expect(secret.stringData, `${manifest.file}: ${v.name} names a key infra/cluster.sh does not put in the Secret`).toHaveProperty([
        key,
      ]);
      env[v.name] = secret.stringData![key];
    } else throw new Error(`${manifest.file}: ${v.name} has neither a value nor a reference`);
  }
  return env;
}

/**
 * A schema in which an unknown field is an error. CRD schemas are not closed, but the API server prunes unknown fields
 * silently; a chart ignores a value it does not know just as silently.
 */
export function closed(schema: any): any {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== "object") return schema;
  const copy = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === "enum" || k === "required" ? v : closed(v)]));
  if (copy.properties && copy.additionalProperties === undefined) copy.additionalProperties = false;
  return copy;
}

// The in-cluster k6 run (infra/k6.ts), checked without a cluster: for every script of loadtests/k6/, the
// ConfigMap and the Job validate against Kubernetes' schema, the Job runs that script with every file it
// imports mounted where the import finds it, and it aims at the functions' cluster addresses.
import { readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { describe, expect, test } from "vitest";
import { CLUSTER_GATEWAY, K6_IMAGE, K6_SCRIPTS_CONFIGMAP, jobName, k6Manifests, scripts } from "../../infra/k6";
import { SECRET_KEYS } from "../../infra/manifests/env";
import { FUNCTIONS_NAMESPACE, ROOT, SECRET } from "../../infra/manifests/names";
import { ofKind, parseText } from "./manifests";

/** Every relative module a script imports, transitively, as paths under loadtests/k6/. */
function imports(path: string, seen = new Set<string>()): Set<string> {
  if (seen.has(path)) return seen;
  seen.add(path);
  const text = readFileSync(join(ROOT, "loadtests/k6", path), "utf8");
  for (const [, spec] of text.matchAll(/from\s+"(\.{1,2}\/[^"]+)"/g))
    imports(posix.normalize(posix.join(posix.dirname(path), spec!)), seen);
  return seen;
}

describe("k6 inside the cluster", () => {
  test("there are scripts to run", () => {
    expect(scripts()).toEqual(expect.arrayContaining(["booking-spike.js", "location-flood.js", "mixed.js", "search.js"]));
  });

  test.each(scripts())("%s: a valid ConfigMap and Job that run it with everything it imports, against the cluster addresses", (script) => {
    const docs = parseText(k6Manifests(script, ["IDLE=30s"]), "k6");
    const [configMap] = ofKind(docs, "ConfigMap");
    const [job] = ofKind(docs, "Job");
    new ConfigMap(configMap as never).validate();
    new Job(job as never).validate();

    expect(configMap!.metadata.name).toBe(K6_SCRIPTS_CONFIGMAP);
    expect(job!.metadata).toMatchObject({ name: jobName(script), namespace: FUNCTIONS_NAMESPACE });
    const pod = job!.spec.template.spec;
    const [container] = pod.containers;
    expect(container.image).toBe(K6_IMAGE);
    expect(K6_IMAGE).toMatch(/^grafana\/k6:\d+\.\d+\.\d+$/);
    expect(container.command.join(" ")).toContain(`k6 run loadtests/k6/${script}`);

    // Each import resolves inside the mounted folder, to the file of the repository.
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === "scripts");
    expect(posix.join(container.workingDir, "loadtests/k6")).toBe(mount.mountPath);
    const items = pod.volumes.find((v: { name: string }) => v.name === "scripts").configMap.items as { key: string; path: string }[];
    for (const path of imports(script)) {
      const item = items.find((i) => i.path === path);
      expect(item, `${script} imports ${path}`).toBeDefined();
      expect(configMap!.data![item!.key]).toBe(readFileSync(join(ROOT, "loadtests/k6", path), "utf8"));
    }

    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? e]));
    expect(env).toMatchObject({
      BASE_URL: CLUSTER_GATEWAY,
      DOMAIN: "svc.cluster.local",
      NAMESPACE: FUNCTIONS_NAMESPACE,
      PROFILE: "cluster",
      IDLE: "30s",
    });
    expect(env.JWT_SECRET).toEqual({ name: "JWT_SECRET", valueFrom: { secretKeyRef: { name: SECRET, key: "JWT_SECRET" } } });
    expect(SECRET_KEYS).toContain("JWT_SECRET");
    // handleSummary writes under loadtests/results/, which must be writable on a read-only root.
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain(
      posix.join(container.workingDir, "loadtests/results"),
    );
    expect(readFileSync(join(ROOT, "loadtests/k6/lib/summary.js"), "utf8")).toContain("`loadtests/results/${name}-");
    expect(job!.spec.backoffLimit).toBe(0);
  });

  test("a script that is not there, or a setting that is not KEY=value, is refused", () => {
    expect(() => k6Manifests("nope.js")).toThrow(/no loadtests\/k6\/nope\.js/);
    expect(() => k6Manifests("search.js", ["IDLE"])).toThrow(/KEY=value/);
  });
});

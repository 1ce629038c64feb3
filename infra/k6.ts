// A k6 run inside the cluster, so the load starts next to the functions and the laptop is not the bottleneck:
// a ConfigMap holding loadtests/k6/ as it is now (each script and lib/), and a Job running the official
// grafana/k6 image on one script, against the functions' cluster addresses. Rendered at run time, not
// committed: the scripts change more often than the cluster does. `infra/cluster.sh k6 <script>` applies it,
// follows the log and saves the JSON summary under loadtests/results/.
//
//   npx tsx infra/k6.ts booking-spike.js [KEY=value …]   the ConfigMap and the Job (stdout)
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Document } from "yaml";
import { FUNCTIONS_NAMESPACE, PART_OF, ROOT, SECRET } from "./manifests/names";
import { commented, yamlFile } from "./manifests/yaml";

/** The newest k6 1.x release (grafana/k6 tag v1.8.1, August 2026); its image is alpine-based, so it has sh. */
export const K6_IMAGE = "grafana/k6:1.8.1";
export const K6_SCRIPTS_CONFIGMAP = "uitgo-k6-scripts";
const SCRIPTS_DIR = "loadtests/k6";
/** Where the pod works: the scripts under loadtests/k6/ and handleSummary's loadtests/results/, as in the repository. */
const WORKDIR = "/work";
/** The line after which the pod prints the JSON summary; infra/cluster.sh splits the log there. */
export const SUMMARY_MARKER = "----- uitgo k6 summary json -----";

/**
 * Kourier's gateway for cluster-local routes: a function's cluster address <function>.<namespace>.svc.cluster.local
 * is an ExternalName for it. The scripts put that name in the Host header (lib/config.js, with DOMAIN below).
 */
export const CLUSTER_GATEWAY = "http://kourier-internal.kourier-system.svc.cluster.local";
const CLUSTER_DOMAIN = "svc.cluster.local";

export function jobName(script: string): string {
  return `k6-${script.replace(/\.js$/, "")}`;
}

/** Every file of loadtests/k6/ a run may import: ConfigMap key → path under loadtests/k6/ (keys cannot hold a slash). */
export function scriptFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(join(ROOT, SCRIPTS_DIR), { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".js")) files.set(entry.name, entry.name);
  }
  for (const name of readdirSync(join(ROOT, SCRIPTS_DIR, "lib"))) {
    if (name.endsWith(".js")) files.set(`lib.${name}`, `lib/${name}`);
  }
  return files;
}

export function scripts(): string[] {
  return [...scriptFiles().values()].filter((path) => !path.includes("/")).sort();
}

/** The ConfigMap and the Job for one script; `extraEnv` is KEY=value settings for the script (IDLE, PEAK, …). */
export function k6Manifests(script: string, extraEnv: readonly string[] = []): string {
  if (!scripts().includes(script)) throw new Error(`no loadtests/k6/${script}; the scripts are ${scripts().join(", ")}`);
  const files = scriptFiles();
  const configMap = commented(
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: K6_SCRIPTS_CONFIGMAP, namespace: FUNCTIONS_NAMESPACE, labels: { ...PART_OF } },
      data: Object.fromEntries([...files].map(([key, path]) => [key, readFileSync(join(ROOT, SCRIPTS_DIR, path), "utf8")])),
    },
    [],
    `Rendered by infra/k6.ts from ${SCRIPTS_DIR}/ for \`infra/cluster.sh k6\`; not committed.`,
  );
  const env = [
    { name: "BASE_URL", value: CLUSTER_GATEWAY },
    { name: "DOMAIN", value: CLUSTER_DOMAIN },
    { name: "NAMESPACE", value: FUNCTIONS_NAMESPACE },
    { name: "PROFILE", value: "cluster" },
    { name: "JWT_SECRET", valueFrom: { secretKeyRef: { name: SECRET, key: "JWT_SECRET" } } },
    ...extraEnv.map((setting) => {
      const at = setting.indexOf("=");
      if (at <= 0) throw new Error(`"${setting}" is not KEY=value`);
      return { name: setting.slice(0, at), value: setting.slice(at + 1) };
    }),
  ];
  const run = `k6 run ${SCRIPTS_DIR}/${script}`;
  const job = commented(
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: jobName(script),
        namespace: FUNCTIONS_NAMESPACE,
        labels: { ...PART_OF, "uitgo.dev/k6-script": script.replace(/\.js$/, "") },
      },
      spec: {
        backoffLimit: 0,
        ttlSecondsAfterFinished: 86_400,
        template: {
          metadata: { labels: { ...PART_OF, "uitgo.dev/k6-script": script.replace(/\.js$/, "") } },
          spec: {
            restartPolicy: "Never",
            containers: [
              {
                name: "k6",
                image: K6_IMAGE,
                workingDir: WORKDIR,
                command: [
                  "sh",
                  "-c",
                  `${run}; status=$?; echo '${SUMMARY_MARKER}'; cat loadtests/results/*.json 2>/dev/null; exit $status`,
                ],
                env,
                volumeMounts: [
                  { name: "scripts", mountPath: `${WORKDIR}/${SCRIPTS_DIR}`, readOnly: true },
                  { name: "results", mountPath: `${WORKDIR}/loadtests/results` },
                  { name: "tmp", mountPath: "/tmp" },
                ],
                resources: { requests: { cpu: "500m", memory: "256Mi" }, limits: { cpu: "2", memory: "2Gi" } },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 12345,
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ["ALL"] },
                },
              },
            ],
            volumes: [
              { name: "scripts", configMap: { name: K6_SCRIPTS_CONFIGMAP, items: [...files].map(([key, path]) => ({ key, path })) } },
              { name: "results", emptyDir: {} },
              { name: "tmp", emptyDir: {} },
            ],
          },
        },
      },
    },
    [
      [["spec", "backoffLimit"], "A failed run (k6 exits 99 when a threshold fails) is a result to read, not something to retry."],
      [
        ["spec", "ttlSecondsAfterFinished"],
        "The finished Job and its pod's log stay a day; `infra/cluster.sh k6` deletes the previous run of a script before starting it.",
      ],
      [
        ["spec", "template", "spec", "containers", 0, "command"],
        "handleSummary (lib/summary.js) prints the thresholds' verdicts and writes the JSON summary under loadtests/results/, an emptyDir here; it is printed after the marker so that `kubectl logs` carries it out, and k6's exit status is kept.",
      ],
      [
        ["spec", "template", "spec", "containers", 0, "env"],
        `The functions' cluster addresses: requests go to Kourier's cluster-local gateway with Host <function>.${FUNCTIONS_NAMESPACE}.${CLUSTER_DOMAIN} (lib/config.js), so the load starts inside the cluster and never crosses the laptop's port 80. PROFILE=cluster: the rates the scripts were written for.`,
      ],
      [
        ["spec", "template", "spec", "containers", 0, "resources"],
        "k6 itself needs CPU to generate load; on a small kind node this pod competes with the functions it measures, so watch its CPU (Scaling board) when reading the results.",
      ],
    ],
    `Rendered by infra/k6.ts for \`infra/cluster.sh k6 ${script}\`: ${SCRIPTS_DIR}/${script} on ${K6_IMAGE} inside the cluster.`,
  );
  return yamlFile([configMap, job] as Document[]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [script, ...extra] = process.argv.slice(2);
  if (!script) {
    console.error(`usage: infra/k6.ts <script> [KEY=value …]; the scripts are ${scripts().join(", ")}`);
    process.exit(2);
  }
  process.stdout.write(k6Manifests(script, extra));
}

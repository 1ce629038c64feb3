// infra/cluster.sh run for real, against stand-ins for kind, kubectl, helm, docker, npm, node and sleep
// (tests/deploy/stand-in/command.sh) that record every call and can be told to fail one. It proves what a
// cluster-less machine can prove about the script: `up` stops at the first failing command, whichever it
// is, with a non-zero exit that names the step; Knative's ConfigMaps are patched only once its webhook is
// ready; and every kind of resource is created after the controller and CRDs it needs.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SUMMARY_MARKER } from "../../infra/k6";
import { ROOT } from "../../infra/manifests/names";

const SCRIPT = join(ROOT, "infra/cluster.sh");
const STAND_INS = ["kind", "kubectl", "helm", "docker", "npm", "node", "sleep"];

let dir: string;
let bin: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "uitgo-cluster-sh-"));
  bin = join(dir, "bin");
  spawnSync("mkdir", [bin]);
  const command = join(bin, "stand-in");
  copyFileSync(join(ROOT, "tests/deploy/stand-in/command.sh"), command);
  chmodSync(command, 0o755);
  for (const name of STAND_INS) symlinkSync(command, join(bin, name));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: string[];
}

let runs = 0;

/** `infra/cluster.sh <args>` with the stand-ins first on PATH; `fail` is a call line that exits 1. */
function run(args: string[], fail?: string): Promise<Run> {
  const id = ++runs;
  const calls = join(dir, `calls-${id}`);
  const tmp = join(dir, `tmp-${id}`);
  spawnSync("mkdir", [tmp]);
  writeFileSync(calls, "");
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, STAND_IN_CALLS: calls, STAND_IN_FAIL: fail ?? "", TMPDIR: tmp };
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [SCRIPT, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (status) => {
      const recorded = readFileSync(calls, "utf8").split("\n").filter(Boolean);
      rmSync(tmp, { recursive: true, force: true });
      resolve({ status, stdout, stderr, calls: recorded });
    });
  });
}

/** The steps the script announced (`==> name`), in order. */
const steps = (stdout: string) => [...stdout.matchAll(/==> (.*?)\x1b\[0m/g)].map((m) => m[1]!);

let up: Run;
beforeAll(async () => {
  up = await run(["up"]);
}, 60_000);

const index = (pattern: RegExp, from = 0) => {
  const at = up.calls.findIndex((call, i) => i >= from && pattern.test(call));
  expect(at, `no call matching ${pattern}`).toBeGreaterThanOrEqual(0);
  return at;
};
const lastIndex = (pattern: RegExp) => {
  const matches = up.calls.map((call, i) => (pattern.test(call) ? i : -1)).filter((i) => i >= 0);
  expect(matches.length, `no call matching ${pattern}`).toBeGreaterThan(0);
  return matches[matches.length - 1]!;
};

describe("infra/cluster.sh up against stand-in commands", () => {
  test("with every command succeeding, up runs create, install, images and deploy and exits 0", () => {
    expect(up.status, up.stderr).toBe(0);
    const announced = steps(up.stdout);
    const first = (prefix: string) => announced.findIndex((s) => s.startsWith(prefix));
    expect(first("create")).toBe(0);
    expect(first("install")).toBeGreaterThan(first("create"));
    expect(first("images")).toBeGreaterThan(first("install"));
    expect(first("deploy")).toBeGreaterThan(first("images"));
    expect(up.calls).toContain("kind create cluster --config infra/kind-config.yaml --wait 120s");
    expect(up.calls.at(-1)).toMatch(/^kubectl get podmonitors/);
  });

  test("Knative Serving's ConfigMaps are patched only after its webhook is Available", () => {
    const webhook = index(/^kubectl wait deployment\/webhook -n knative-serving --for=condition=Available/);
    const patches = up.calls.map((call, i) => [call, i] as const).filter(([call]) => /^kubectl patch configmap\/config-/.test(call));
    expect(patches.map(([call]) => call.split(" ")[2])).toEqual([
      "configmap/config-network",
      "configmap/config-domain",
      "configmap/config-deployment",
      "configmap/config-observability",
    ]);
    for (const [call, i] of patches) {
      expect(i, call).toBeGreaterThan(webhook);
      expect(call, "patched in Serving's namespace").toContain("-n knative-serving");
    }
    // The restart that makes the components read config-observability takes the webhook down again;
    // nothing of Serving's is created before it is back.
    const restart = index(/^kubectl rollout restart deployment -n knative-serving/);
    expect(restart).toBeGreaterThan(patches.at(-1)![1]);
    expect(index(/^kubectl wait deployment\/webhook/, restart)).toBeLessThan(index(/^kubectl apply -f knative\/config.yaml/));
  });

  // Each row: the CRDs, the controller that serves them being ready, and the first resource of theirs.
  const ORDER: [string, RegExp, RegExp, RegExp][] = [
    [
      "Knative Serving",
      /^kubectl apply -f \S+\/serving-crds\.yaml/,
      /^kubectl wait deployment --all -n knative-serving/,
      /^kubectl patch configmap\/config-network/,
    ],
    [
      "Knative Eventing",
      /^kubectl apply -f \S+\/eventing-crds\.yaml/,
      /^kubectl wait deployment --all -n knative-eventing/,
      /^kubectl apply -f knative\/config\.yaml/,
    ],
    [
      "prometheus-operator (kube-prometheus-stack)",
      /^helm upgrade --install monitoring .* --wait/,
      /^helm upgrade --install monitoring .* --wait/,
      /^node --import tsx infra\/manifests\/cli\.ts monitoring/,
    ],
    [
      "PodMonitor of the NATS chart",
      /^helm upgrade --install monitoring /,
      /^helm upgrade --install monitoring .* --wait/,
      /^helm upgrade --install nats /,
    ],
    ["NACK", /^helm upgrade --install nack .* --wait/, /^helm upgrade --install nack .* --wait/, /^kubectl apply -f nats\/nack\//],
    [
      "KEDA",
      /^helm upgrade --install keda kedacore\/keda .* --wait/,
      /^helm upgrade --install keda .* --wait/,
      /^node --import tsx infra\/manifests\/cli\.ts deploy sources$/,
    ],
    [
      "CloudNativePG",
      /^kubectl apply --server-side -f \S+cnpg-/,
      /^kubectl rollout status deployment\/cnpg-controller-manager/,
      /^kubectl apply -f infra\/data\/postgres\.yaml/,
    ],
  ];

  test.each(ORDER)("%s: CRDs, then the controller ready, then its resources", (_, crds, controller, resource) => {
    const crdsAt = index(crds);
    const controllerAt = index(controller, crdsAt);
    expect(index(resource)).toBeGreaterThan(controllerAt);
    expect(controllerAt).toBeGreaterThanOrEqual(crdsAt);
  });

  test("each CRD install waits for the CRDs to be Established before the controller that serves them", () => {
    for (const [crds, core] of [
      [/serving-crds\.yaml/, /serving-core\.yaml/],
      [/eventing-crds\.yaml/, /eventing-core\.yaml/],
    ] as const) {
      const established = index(/^kubectl wait --for=condition=Established --all crd/, index(crds));
      expect(established).toBeLessThan(index(core));
    }
  });

  test("the sources are applied only once every function is Ready, so their sink resolves at once", () => {
    const ready = index(/^kubectl wait ksvc --all .*--for=condition=Ready/);
    expect(index(/^node --import tsx infra\/manifests\/cli\.ts deploy functions$/)).toBeLessThan(ready);
    expect(index(/^node --import tsx infra\/manifests\/cli\.ts deploy sources$/)).toBeGreaterThan(ready);
    expect(
      up.calls.filter((c) => /manifests\/cli\.ts deploy$/.test(c)),
      "nothing deploys both at once",
    ).toEqual([]);
  });

  test("the functions are applied only once their streams, consumers, Secret and schema are in place", () => {
    const functions = index(/^kubectl apply -f <tmp>/, index(/^node --import tsx infra\/manifests\/cli\.ts deploy functions$/));
    const secret = lastIndex(/^kubectl apply -f -$/);
    expect(secret).toBeGreaterThan(index(/^node --import tsx infra\/manifests\/cli\.ts secret/));
    for (const before of [/^kubectl apply -f nats\/nack\//, /^kubectl apply -f -$/, /^kubectl exec -i -n uitgo-data primary-1 /]) {
      expect(index(before)).toBeLessThan(functions);
    }
  });
});

describe("every failing command stops up", () => {
  // Every distinct command line a good `up` runs, each made to fail in turn (a few runs at a time: each is
  // a bash process and a few dozen stand-ins).
  test("up exits non-zero at once, names the step that was running, and runs nothing after the failure", async () => {
    const distinct = [...new Set(up.calls)].filter((call) => !call.startsWith("sleep "));
    expect(distinct.length).toBeGreaterThan(40);
    const results: [string, Run][] = [];
    const queue = [...distinct];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let call = queue.shift(); call !== undefined; call = queue.shift()) results.push([call, await run(["up"], call)]);
      }),
    );
    for (const [call, failed] of results) {
      expect(failed.status, `exit status when "${call}" fails`).not.toBe(0);
      const at = failed.calls.indexOf(call);
      expect(at, call).toBeGreaterThanOrEqual(0);
      // After the failing command, only its own retries (and the pauses between them) may run.
      const after = failed.calls.slice(at + 1).filter((c) => c !== call && !c.startsWith("sleep "));
      expect(after, `ran after "${call}" failed`).toEqual([]);
      const announced = steps(failed.stdout);
      expect(failed.stderr, call).toContain(`infra/cluster.sh: step "${announced.at(-1)}" failed`);
      // The good run got past this point, so the failure is what stopped this one.
      expect(failed.calls.length).toBeLessThan(up.calls.length + 5);
    }
  }, 240_000);

  test("a failed kubectl apply is retried before it stops the script; a failed wait is not", async () => {
    const apply = up.calls.find((c) => c.startsWith("kubectl apply -f infra/data/postgres.yaml"))!;
    const failedApply = await run(["up"], apply);
    expect(failedApply.calls.filter((c) => c === apply)).toHaveLength(5);
    const wait = up.calls.find((c) => c.startsWith("kubectl wait cluster.postgresql.cnpg.io"))!;
    const failedWait = await run(["up"], wait);
    expect(failedWait.calls.filter((c) => c === wait)).toHaveLength(1);
    expect(failedWait.stderr).toContain('step "install: the shard databases and Redis" failed');
  }, 60_000);

  test("a tool missing from PATH stops up before anything runs", async () => {
    const emptyBin = join(dir, "empty-bin");
    spawnSync("mkdir", ["-p", emptyBin]);
    for (const name of ["bash", "dirname", "mkdir"]) {
      const found = spawnSync("bash", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
      if (found) symlinkSync(found, join(emptyBin, name));
    }
    const result = spawnSync(join(emptyBin, "bash"), [SCRIPT, "up"], { cwd: ROOT, env: { PATH: emptyBin }, encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("missing on PATH: docker kind kubectl");
    expect(result.stderr).toContain('step "create: kind cluster uitgo" failed');
  });
});

describe("static checks", () => {
  const shellcheck = spawnSync("shellcheck", ["--version"]).status === 0;
  // Debian and Ubuntu package it (apt-get install shellcheck); without it this one check is skipped.
  test.skipIf(!shellcheck)("shellcheck -o all finds nothing in infra/cluster.sh or the stand-in", () => {
    for (const file of [SCRIPT, join(ROOT, "tests/deploy/stand-in/command.sh")]) {
      const result = spawnSync("shellcheck", ["-o", "all", file], { encoding: "utf8" });
      expect(result.stdout + result.stderr, file).toBe("");
      expect(result.status).toBe(0);
    }
  });
});

describe("infra/cluster.sh k6", () => {
  const resultsDir = join(ROOT, "loadtests/results");
  const saved = () => readdirSync(resultsDir).filter((f) => /^booking-spike-cluster-.*\.json$/.test(f));
  afterAll(() => {
    for (const file of saved()) rmSync(join(resultsDir, file));
  });

  test("renders the Job, replaces the previous run, follows its log, prints the verdicts and saves the JSON summary", async () => {
    const before = new Set(saved());
    const result = await run(["k6", "booking-spike.js", "IDLE=30s"]);
    expect(result.status, result.stderr).toBe(0);
    const render = index2(result.calls, /^node --import tsx infra\/k6\.ts booking-spike\.js IDLE=30s$/);
    const removed = index2(result.calls, /^kubectl delete job k6-booking-spike -n default --ignore-not-found --wait$/);
    const applied = index2(result.calls, /^kubectl apply -f <tmp>$/);
    const followed = index2(result.calls, /^kubectl logs -f job\/k6-booking-spike -n default --pod-running-timeout=5m$/);
    expect(render < removed && removed < applied && applied < followed).toBe(true);
    expect(result.stdout).toContain("ok     http_req_failed: rate<0.01");
    expect(result.stdout).not.toContain('{"script"');
    const files = saved().filter((f) => !before.has(f));
    expect(files).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(resultsDir, files[0]!), "utf8"))).toEqual({ script: "booking-spike" });
  });

  test("a failed threshold (k6's exit 99) is the command's exit status, with the step named", async () => {
    const env = process.env.STAND_IN_K6_EXIT;
    process.env.STAND_IN_K6_EXIT = "99";
    try {
      const result = await run(["k6", "booking-spike.js"]);
      expect(result.status).toBe(99);
      expect(result.stderr).toContain('step "k6: booking-spike.js exited 99');
    } finally {
      if (env === undefined) delete process.env.STAND_IN_K6_EXIT;
      else process.env.STAND_IN_K6_EXIT = env;
    }
  });

  test("the log marker is the one infra/k6.ts prints", () => {
    expect(readFileSync(SCRIPT, "utf8")).toContain(`K6_SUMMARY_MARKER="${SUMMARY_MARKER}"`);
  });
});

function index2(calls: string[], pattern: RegExp): number {
  const at = calls.findIndex((call) => pattern.test(call));
  expect(at, `no call matching ${pattern}`).toBeGreaterThanOrEqual(0);
  return at;
}

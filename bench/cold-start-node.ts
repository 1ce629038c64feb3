// The bench's cold start (spawn → readiness 200) of the same bundles on other Node binaries: on each Node as it
// is, and on each that has a compile cache (22.1+) also with NODE_COMPILE_CACHE filled beforehand as an image
// build would fill it (bench/compile-cache.ts). Every start is compared with the bare node:http server on the
// same Node, with the same settings, in the same round; the starts of one bundle on every runtime follow one
// another. With --cache-effect, a cached start is compared with the uncached start of the same bundle instead.
//
//   node --import tsx bench/cold-start-node.ts --node /path/to/node22 [--node …] [--runs 15] [--cache-effect] [--json out.json] [bundle.mjs …]
//
// Without bundles: the bare server, hello and every function, built (npm run build; the bench builds
// dist/bench/). This process's Node is always one of the runtimes. Needs the stores, as compare-starts.ts.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FUNCTIONS, bundlePath } from "../esbuild.config";
import { measureColdStarts, type ColdStart, type ColdStartTarget } from "./lib/cold-start";
import { fillCompileCache, hasCompileCache } from "./lib/compile-cache";
import { standaloneEnv } from "./lib/environment";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    node: { type: "string", multiple: true, default: [] },
    runs: { type: "string", default: "15" },
    "cache-effect": { type: "boolean", default: false },
    json: { type: "string" },
  },
});
const root = fileURLToPath(new URL("..", import.meta.url));
const bare = join(root, "dist", "bench", "bare", "index.mjs");
const bundles = positionals.length
  ? positionals
  : [join(root, "dist", "bench", "hello", "index.mjs"), ...FUNCTIONS.map((name) => bundlePath("functions", name))];
for (const bundle of [bare, ...bundles])
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing (npm run build, and the bench builds dist/bench/)`);

interface Runtime {
  label: string;
  node: string;
  cacheRoot?: string;
}
const cacheRoot = mkdtempSync(join(tmpdir(), "uitgo-compile-cache-"));
const runtimes: Runtime[] = [];
for (const node of [...new Set([process.execPath, ...values.node])]) {
  const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
  runtimes.push({ label: version, node });
  if (hasCompileCache(node))
    runtimes.push({ label: `${version} + compile cache`, node, cacheRoot: join(cacheRoot, String(runtimes.length)) });
}

const name = (bundle: string) => (bundle === bare ? "bare" : basename(dirname(bundle)));
const targets: ColdStartTarget[] = [];
for (const bundle of [bare, ...bundles]) {
  runtimes.forEach((runtime, r) => {
    const target: ColdStartTarget = { name: `${name(bundle)} @ ${runtime.label}`, bundle, node: runtime.node, reference: r };
    if (runtime.cacheRoot) {
      // One cache per bundle, as each image has its own.
      const dir = join(runtime.cacheRoot, name(bundle));
      fillCompileCache(runtime.node, bundle, dir);
      target.env = { NODE_COMPILE_CACHE: dir };
      // The same Node without the cache is the runtime just before.
      if (values["cache-effect"]) target.reference = targets.length - 1;
    }
    targets.push(target);
  });
}

const runs = Number(values.runs);
const startedAt = new Date();
console.error(`${runtimes.map((r) => r.label).join(" | ")}: ${targets.length} starts a round, ${runs} rounds`);
let results: ColdStart[];
try {
  results = await measureColdStarts(targets, standaloneEnv(), runs);
} finally {
  rmSync(cacheRoot, { recursive: true, force: true });
}

const cell = (s: ColdStart) => `${s.readyMs} ms ${s.vsReference.toFixed(2)}× ${s.rssMb} MB`;
const versus = values["cache-effect"]
  ? "÷ bare on the same runtime, or with a cache ÷ the same bundle without,"
  : "÷ bare on the same runtime";
console.log(`cold start, median of ${runs} rounds (ms, ${versus} in the same round, RSS), ${startedAt.toISOString()}`);
console.log(`| bundle | KiB | ${runtimes.map((r) => r.label).join(" | ")} |`);
console.log(`|---|---:|${runtimes.map(() => "---:").join("|")}|`);
for (let b = 0; b < targets.length; b += runtimes.length) {
  const row = results.slice(b, b + runtimes.length);
  console.log(`| ${name(targets[b]!.bundle)} | ${row[0]!.bundleKiB} | ${row.map(cell).join(" | ")} |`);
}
if (values.json) {
  writeFileSync(
    values.json,
    JSON.stringify({ startedAt, runs, runtimes: runtimes.map(({ label, node }) => ({ label, node })), results }, null, 2),
  );
}

// One self-contained ES module per function (and per event source): dist/<kind>/<name>/index.mjs.
// This file is what gets deployed, so it is also what the tests and the local run start.
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type BuildOptions, type Metafile } from "esbuild";

const root = fileURLToPath(new URL(".", import.meta.url));

export const FUNCTIONS = entries("functions");
export const SOURCES = entries("sources");

export function bundlePath(kind: "functions" | "sources", name: string): string {
  return join(root, "dist", kind, name, "index.mjs");
}

const common: BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  // Every function pays for its bundle at each cold start; see shared/clients/nkeys-unavailable.ts.
  alias: {
    "@nats-io/nkeys": join(root, "shared", "clients", "nkeys-unavailable.ts"),
  },
  // ioredis and postgres are CommonJS inside; in an ES module bundle they need a real require for Node's built-ins.
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
};

export async function buildAll(): Promise<void> {
  await Promise.all([...FUNCTIONS.map((name) => bundle("functions", name)), ...SOURCES.map((name) => bundle("sources", name))]);
}

async function bundle(kind: "functions" | "sources", name: string): Promise<void> {
  await bundleFile(join(root, kind, name, "index.ts"), bundlePath(kind, name));
}

/**
 * One entry point bundled exactly as a deployed function is (the benchmark builds its reference servers with it), with
 * the tracing SDK beside it as a file of its own: a function imports that only when tracing is configured
 * (shared/telemetry/tracing.ts), so one without tracing neither reads nor compiles it at its cold start.
 */
export async function bundleFile(entry: string, outfile: string): Promise<void> {
  await Promise.all([build({ ...common, entryPoints: [entry], outfile }), sdkBundle()]);
  copyFileSync(SDK_BUNDLE, join(dirname(outfile), SDK_FILE));
}

/** The name startTracing() imports, next to the function's index.mjs here and in its image (infra/Dockerfile). */
export const SDK_FILE = "telemetry-sdk.mjs";
export const SDK_BUNDLE = join(root, "dist", SDK_FILE);
let sdkBuilt: Promise<unknown> | undefined;

function sdkBundle(): Promise<unknown> {
  sdkBuilt ??= build({ ...common, entryPoints: [join(root, "shared", "telemetry", "sdk.ts")], outfile: SDK_BUNDLE });
  return sdkBuilt;
}

/** What the bundles of these entry points link, bundled exactly as deployed; nothing is written. Paths are relative to the repository. */
export async function bundleMetafile(entryPoints: string[]): Promise<Metafile> {
  const result = await build({
    ...common,
    entryPoints,
    outdir: join(root, "dist"),
    absWorkingDir: root,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  return result.metafile;
}

function entries(kind: string): string[] {
  const dir = join(root, kind);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, "index.ts")))
    .map((entry) => entry.name)
    .sort();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  await buildAll();
  console.log(`built ${FUNCTIONS.length} functions and ${SOURCES.length} sources in ${Math.round(performance.now() - started)} ms`);
}

// Where a function's time goes, by owner: every sample of a V8 CPU profile is put down to the npm package,
// UIT-Go source file or Node.js internal module that was running, through the bundle's source map.
//
//   node --import tsx bench/profile.ts start assign-driver [--interval-us 200]
//       starts the bundle under the profiler and stops it once readiness answers 200: its cold start.
//       Needs the stores of a bench run (npm run bench provisions them), and NATS on NATS_URL or 4222.
//   node --import tsx bench/profile.ts show bench/results/profiles/<run>/<file>.cpuprofile
//       a profile, or every profile in a folder, e.g. those `npm run bench -- --profile` writes (every
//       process of the stack, under the load of the scenarios chosen with --only).
//
// Open a .cpuprofile in Chrome DevTools (Performance → Load profile) or speedscope for its flame graph.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bundlePath } from "../esbuild.config";
import { freePort, waitUntilReady } from "../harness/processes";
import { standaloneEnv } from "./lib/environment";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const root = fileURLToPath(new URL("..", import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { "interval-us": { type: "string", default: "200" } } });
const [command, target] = positionals;
if (command === "start" && target) {
  const { file, readyMs } = await profileStart(target, values["interval-us"]!);
  console.log(`${target}: ready ${readyMs.toFixed(1)} ms after spawn under the profiler (it slows the start); its samples until then:`);
  printOwners(file, readyMs);
} else if (command === "show" && target) {
  const files = statSync(target).isDirectory()
    ? readdirSync(target)
        .filter((f) => f.endsWith(".cpuprofile"))
        .map((f) => join(target, f))
    : [target];
  for (const file of files) printOwners(file);
} else {
  console.error(
    "usage: node --import tsx bench/profile.ts start <function> [--interval-us 200]\n       node --import tsx bench/profile.ts show <file.cpuprofile>",
  );
  process.exit(2);
}

async function profileStart(name: string, intervalUs: string): Promise<{ file: string; readyMs: number }> {
  const outDir = join(root, "bench", "results", "profiles");
  const tmp = join(outDir, `.${name}-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const port = await freePort();
  const env = { ...process.env, ...standaloneEnv(), PORT: String(port), SERVICE_NAME: name };
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ["--cpu-prof", "--cpu-prof-dir", tmp, "--cpu-prof-interval", intervalUs, bundlePath("functions", name)],
    { env, stdio: "ignore" },
  );
  await waitUntilReady(port);
  const readyMs = performance.now() - started;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM"); // the function exits through process.exit, which writes the profile
  await exited;
  const file = join(outDir, `${name}-start.cpuprofile`);
  renameSync(join(tmp, readdirSync(tmp)[0]!), file);
  rmSync(tmp, { recursive: true, force: true });
  return { file, readyMs };
}

/** Self time by owner, for the samples of the first `untilMs` (all of them by default). */
function printOwners(file: string, untilMs = Infinity): void {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const owner = ownerOf();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<string, number>();
  let elapsed = 0;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = profile.timeDeltas[i]! / 1000;
    elapsed += ms;
    if (elapsed > untilMs) break;
    const key = owner(byId.get(profile.samples[i]!)!.callFrame);
    selfMs.set(key, (selfMs.get(key) ?? 0) + ms);
    total += ms;
  }
  const busy = total - (selfMs.get("(idle)") ?? 0);
  console.log(`\n${basename(file)}: ${total.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy`);
  for (const [key, ms] of [...selfMs].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${ms.toFixed(1).padStart(9)} ms ${((100 * ms) / busy).toFixed(1).padStart(5)} %  ${key}`);
  }
  console.log(`profile: ${file}`);
}

/** Names what a sample was running: an npm package, a UIT-Go source file, a Node.js internal, or V8's own work. */
function ownerOf(): (frame: CallFrame) => string {
  const maps = new Map<string, { sources: string[]; lines: [number, number][][] } | undefined>();
  const mapOf = (url: string) => {
    if (!maps.has(url)) {
      const mapFile = `${fileURLToPath(url)}.map`;
      if (!existsSync(mapFile)) maps.set(url, undefined);
      else {
        const map = JSON.parse(readFileSync(mapFile, "utf8")) as { sources: string[]; mappings: string };
        maps.set(url, { sources: map.sources, lines: decodeMappings(map.mappings) });
      }
    }
    return maps.get(url);
  };
  return (frame) => {
    if (frame.url.startsWith("file://") && frame.url.endsWith(".mjs")) {
      const map = mapOf(frame.url);
      let source: number | undefined;
      // The last segment that starts at or before the column maps it.
      for (const [column, index] of map?.lines[frame.lineNumber] ?? []) {
        if (column > frame.columnNumber) break;
        source = index;
      }
      // Unmapped: the bundle's own top level, where V8 puts parsing and compiling it.
      if (!map || source === undefined) return "bundle top level (parse, compile)";
      const path = map.sources[source]!;
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      return pkg ? `npm ${pkg[1]}` : `uitgo ${path.replace(/^(\.\.\/)+/, "")}`;
    }
    if (frame.url.startsWith("node:")) return `node ${frame.url.slice(5).replace(/^internal\//, "")}`;
    return frame.url || `(${frame.functionName || "program"})`.replace(/^\(\((.*)\)\)$/, "($1)");
  };
}

/** Source-map "mappings" → per generated line, [generated column, source index] pairs in column order. */
function decodeMappings(mappings: string): [number, number][][] {
  const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const lines: [number, number][][] = [];
  let source = 0;
  for (const line of mappings.split(";")) {
    const segments: [number, number][] = [];
    let column = 0;
    for (const segment of line.split(",")) {
      if (!segment) continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const char of segment) {
        const digit = BASE64.indexOf(char);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += fields[0]!;
      if (fields.length >= 2) {
        source += fields[1]!;
        segments.push([column, source]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

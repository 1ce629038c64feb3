// Node's compile cache (22.1+, NODE_COMPILE_CACHE) filled ahead of a start, the way an image build would:
// compile the bundle without running it, so that no configuration, store or port is needed.
import { execFileSync, spawnSync } from "node:child_process";

/**
 * Node's arguments to compile `bundle` and exit: a module imported before it ends the process while the graph
 * is evaluated, after every module in it has been compiled; Node writes the cache as it exits. An image would
 * run the same as its runtime uid, for the path it starts (the cache is kept per uid and keyed by path):
 *   RUN ["/nodejs/bin/node", "--input-type=module", "-e", "import 'data:text/javascript,process.exit()'; import '/app/index.mjs'"]
 */
export function cacheFillArgs(bundle: string): string[] {
  return ["--input-type=module", "-e", `import 'data:text/javascript,process.exit()'; import ${JSON.stringify(bundle)}`];
}

/** Fills `cacheDir` for `bundle` with `node` and returns what it printed; throws if it fails or has not ended within 30 s. */
export function fillCompileCache(node: string, bundle: string, cacheDir: string): string {
  const result = spawnSync(node, cacheFillArgs(bundle), {
    // Nothing of the developer's environment: an image build has none either.
    env: { NODE_COMPILE_CACHE: cacheDir },
    encoding: "utf8",
    timeout: 30_000,
  });
  const output = `${result.stdout}${result.stderr}`;
  if (result.error || result.status !== 0)
    throw new Error(`filling the compile cache for ${bundle} failed (${result.error ?? `exit ${result.status}`}):\n${output.slice(-2000)}`);
  return output;
}

/** Whether `node` has a compile cache for ES modules (22.1+); older versions ignore NODE_COMPILE_CACHE. */
export function hasCompileCache(node: string): boolean {
  return execFileSync(node, ["-p", "typeof require('node:module').enableCompileCache"], { encoding: "utf8" }).trim() === "function";
}

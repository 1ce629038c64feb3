// Which stores a function gets addresses for is read from its bundle, so the manifests follow what the
// code actually links rather than a list kept by hand.
import { join } from "node:path";
import { FUNCTIONS, bundleMetafile } from "../../esbuild.config";
import { ROOT } from "./names";

export type Store = "postgres" | "redis" | "nats";

/** The npm client whose presence in a bundle means the code connects to that store (tree-shaking drops unused ones). */
const STORE_CLIENTS: Record<Store, string> = {
  postgres: "node_modules/postgres/",
  redis: "node_modules/ioredis/",
  nats: "node_modules/@nats-io/transport-node/",
};

/** The stores an entry point's bundle links, as esbuild bundles it for deployment. */
export async function storesUsedBy(kind: "functions" | "sources", name: string): Promise<Set<Store>> {
  const metafile = await bundleMetafile([join(ROOT, kind, name, "index.ts")]);
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined);
  if (!output) throw new Error(`esbuild produced no bundle for ${kind}/${name}`);
  const linked = Object.entries(output.inputs)
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([path]) => path.replaceAll("\\", "/"));
  const stores = new Set<Store>();
  for (const [store, prefix] of Object.entries(STORE_CLIENTS) as [Store, string][]) {
    if (linked.some((path) => path.includes(prefix))) stores.add(store);
  }
  return stores;
}

let linkedStores: Promise<Map<string, Set<Store>>> | undefined;

/** Each function → the stores its bundle links (bundled once per process: it takes a few seconds). */
export function storesByFunction(): Promise<Map<string, Set<Store>>> {
  linkedStores ??= Promise.all(FUNCTIONS.map(async (name) => [name, await storesUsedBy("functions", name)] as const)).then(
    (entries) => new Map(entries),
  );
  return linkedStores;
}

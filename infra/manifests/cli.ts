// Renders every deploy manifest from the definitions the code itself uses, so none can drift from it:
//   knative/                   a Knative Service per function (FUNCTIONS), a ContainerSource per consumer (CONSUMERS)
//                              and a PingSource per schedule (SCHEDULES)
//   nats/nack/                 the streams and consumers (STREAMS, CONSUMERS) as NACK resources
//   infra/data/postgres.yaml   a CloudNativePG cluster and pooler per region shard (REGIONS)
//   infra/monitoring/          scrape targets and Grafana dashboards (infra/monitoring/render.ts)
// Which stores a function gets addresses for is read from its bundle (what the code actually links),
// and its scaling numbers from infra/profiles.ts.
//
//   npx tsx infra/manifests/cli.ts            write the files
//   npx tsx infra/manifests/cli.ts --check    exit 1 if a committed file differs from what the code implies
//   npx tsx infra/manifests/cli.ts images     "<image> <bundle>" per image, tags from the bundle's content
//   npx tsx infra/manifests/cli.ts deploy     knative/ as deployed: content tags instead of :dev (stdout); `deploy functions`
//                                             or `deploy sources` for the Services or the sources only
//   npx tsx infra/manifests/cli.ts regions    "<region> <CloudNativePG cluster>" per region shard
//   npx tsx infra/manifests/cli.ts secret     the Secret, from KEY=value lines on stdin (see secretManifest), and the
//                                             PingSources, which carry a value from it
//   (deploy leaves the PingSources out: `secret` applies them)
//   npx tsx infra/manifests/cli.ts monitoring scrape targets and dashboard ConfigMaps, for kubectl apply (stdout)
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { REGIONS } from "../../shared/regions";
import { monitoringManifests } from "../monitoring/render";
import { contentTag, images } from "./images";
import { ROOT } from "./names";
import { clusterName } from "./postgres";
import { drift, renderAll, staleFiles } from "./render";
import { pingSourcesWithSecret, secretManifest } from "./secret";

async function main(args: string[]): Promise<void> {
  const [command = "write"] = args;
  if (command === "write" || command === "--check") {
    const files = await renderAll();
    if (command === "--check") {
      const problems = drift(files);
      if (problems.length > 0) {
        console.error(`${problems.join("\n")}\nRun \`npm run -s manifests\` and commit the result.`);
        process.exit(1);
      }
      console.log(`${files.size} manifests match the code`);
      return;
    }
    for (const path of staleFiles(files)) rmSync(join(ROOT, path));
    for (const [path, text] of files) {
      mkdirSync(dirname(join(ROOT, path)), { recursive: true });
      writeFileSync(join(ROOT, path), text);
    }
    console.log(`wrote ${files.size} manifests`);
  } else if (command === "images") {
    for (const { image, bundle } of images()) console.log(`${image} ${bundle}`);
  } else if (command === "deploy") {
    // `deploy functions` or `deploy sources`: infra/cluster.sh waits for the functions before it creates their sources.
    const part = args[1];
    const isSource = (path: string) => /^knative\/(source|ping)-/.test(path);
    const files = await renderAll(contentTag);
    // The PingSources carry the secret, so `secret` applies them; applied from here they would lose it.
    const deployed = [...files].filter(
      ([path]) =>
        path.startsWith("knative/") && !path.startsWith("knative/ping-") && (part === undefined || (part === "sources") === isSource(path)),
    );
    process.stdout.write(deployed.map(([, text]) => text).join("---\n"));
  } else if (command === "regions") {
    for (const region of REGIONS) console.log(`${region} ${clusterName(region)}`);
  } else if (command === "secret") {
    const input = readFileSync(0, "utf8");
    process.stdout.write(`${secretManifest(input)}---\n${pingSourcesWithSecret(input)}`);
  } else if (command === "monitoring") {
    process.stdout.write(monitoringManifests());
  } else {
    console.error(`unknown command ${command}; see the top of infra/manifests/cli.ts`);
    process.exit(2);
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  console.error(err);
  process.exit(1);
}

// Before any test: the same provisioning as the run command (services, test databases, streams), and fresh bundles.
import { buildAll } from "../../esbuild.config";
import { provision } from "../../local/provision";
import { TEST_ENV } from "./test-env";

export default async function setup(): Promise<void> {
  Object.assign(process.env, TEST_ENV);
  await provision({ log: (line) => console.log(`[provision] ${line}`) });
  await buildAll();
}

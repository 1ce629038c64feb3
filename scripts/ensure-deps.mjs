// First step of `npm start` and `npm test`: install the dependencies when node_modules is missing or older
// than package-lock.json (after a pull that changed them). Plain Node, so it runs before anything is installed.
import { spawnSync } from "node:child_process";
import { existsSync, statSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lockFile = join(root, "package-lock.json");
const installed = join(root, "node_modules", ".package-lock.json");

const hasLock = existsSync(lockFile);
const upToDate = hasLock && existsSync(installed) && statSync(installed).mtimeMs >= statSync(lockFile).mtimeMs;

if (!upToDate) {
  const args = hasLock ? ["ci"] : ["install"];
  const why = !hasLock
    ? "there is no package-lock.json"
    : existsSync(installed)
      ? "node_modules is older than package-lock.json"
      : "node_modules is missing";
  console.log(`${why}: running npm ${args.join(" ")}`);
  const result = spawnSync("npm", args, { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  if (result.error) {
    console.error(`could not run npm: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
  // npm may rewrite package-lock.json after node_modules; mark the install as the newer so it is not redone.
  if (existsSync(installed)) {
    const now = new Date();
    utimesSync(installed, now, now);
  }
}

// Prints a JWT for local requests: npm run -s token -- rider alice [--ttl 3600]
// Signed with JWT_SECRET, or with the development secret every local process falls back to when it is unset.
import { DEV_JWT_SECRET, loadConfig, usesDevSecret } from "../shared/config";
import { ROLES, type Role } from "../shared/principal";
import { signToken } from "../shared/tokens";

const USAGE = `usage: npm run -s token -- <rider|driver> <id> [--ttl <seconds>]
  e.g. npm run -s token -- rider alice
       npm run -s token -- driver demo-hcm-001 --ttl 86400
Signs with $JWT_SECRET, or with the local development secret when it is unset.`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.includes("-h") || args.includes("--help")) {
  console.log(USAGE);
  process.exit(0);
}

let ttl = 3600;
const positional: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === "--ttl" || arg.startsWith("--ttl=")) {
    const raw = arg === "--ttl" ? args[++i] : arg.slice("--ttl=".length);
    if (raw === undefined || !/^[1-9]\d*$/.test(raw))
      fail(`--ttl needs a positive whole number of seconds, got ${raw === undefined ? "nothing" : `"${raw}"`}`);
    ttl = Number(raw);
  } else if (arg.startsWith("-")) {
    fail(`unknown option ${arg}`);
  } else {
    positional.push(arg);
  }
}

const [role, id] = positional;
if (positional.length !== 2 || role === undefined || id === undefined) fail("expected a role and an id");
if (!(ROLES as readonly string[]).includes(role)) fail(`the role must be rider or driver, got "${role}"`);
if (id.length > 128) fail("the id must be at most 128 characters");

const config = loadConfig();
if (usesDevSecret(config)) console.error(`(signed with the development secret "${DEV_JWT_SECRET}"; set JWT_SECRET to use another)`);
console.log(signToken(config.jwtSecret, { id, role: role as Role }, ttl));

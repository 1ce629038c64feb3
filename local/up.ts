// `npm start`: everything UIT-Go needs on this machine, then where to send requests.
//   NATS with JetStream, Redis, PostgreSQL (used if running, else started) → databases, schema, streams,
//   consumers → bundles → every function and JetStream source as its own process → the local entry point
//   → demo drivers. Ctrl-C stops what this command started; the servers keep running.
//
//   npm start [-- --no-demo]        UITGO_PORT=9080 npm start
import { DEV_JWT_SECRET, loadConfig, usesDevSecret } from "../shared/config";
import { signToken } from "../shared/tokens";
import { startDemoDrivers, type DemoDrivers } from "./demo-drivers";
import { provision } from "./provision";
import { startStack, type Stack } from "./stack";

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== "--no-demo");
if (unknown.length > 0) {
  console.error(
    `unknown argument${unknown.length > 1 ? "s" : ""} ${unknown.join(" ")}\nusage: npm start [-- --no-demo]   (UITGO_PORT sets the port, 8080 by default)`,
  );
  process.exit(2);
}
const demo = !args.includes("--no-demo");
const port = Number(process.env.UITGO_PORT ?? 8080);
if (!Number.isInteger(port) || port < 1 || port > 65_000) {
  console.error(`UITGO_PORT must be a port number, got "${process.env.UITGO_PORT}"`);
  process.exit(2);
}

const say = (line: string) => console.log(`  ${line}`);
let stack: Stack | undefined;
let drivers: DemoDrivers | undefined;
let stopping = false;

async function shutdown(signal: string): Promise<void> {
  stopping = true;
  console.log(`\n${signal}: stopping UIT-Go (NATS, Redis and PostgreSQL keep running)`);
  drivers?.stop();
  await stack?.stop();
  console.log("stopped");
  process.exit(0);
}

let firstSignalAt = 0;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // Ctrl-C reaches every process of the terminal's group, npm included, which may relay it: act on the first,
    // and only a deliberate second Ctrl-C later on forces the exit.
    if (firstSignalAt === 0) {
      firstSignalAt = Date.now();
      void shutdown(signal).catch((err: unknown) => {
        console.error(err);
        process.exit(1);
      });
    } else if (Date.now() - firstSignalAt > 2_000) {
      console.log("forced exit");
      process.exit(1);
    }
  });
}

try {
  const config = loadConfig();
  console.log("UIT-Go: provisioning NATS, Redis and PostgreSQL");
  let started = performance.now();
  await provision({ log: say });
  say(`ready in ${Math.round(performance.now() - started)} ms`);

  console.log("UIT-Go: building and starting the functions");
  started = performance.now();
  stack = await startStack({ basePort: port, log: say, traces: true });
  say(`all processes ready in ${Math.round(performance.now() - started)} ms`);
  if (stopping) await new Promise(() => {});

  if (demo) {
    drivers = await startDemoDrivers({ gatewayUrl: stack.gatewayUrl, jwtSecret: config.jwtSecret, log: say });
    say(`${drivers.count} demo drivers cruise around the city centres, reporting every 10 s (npm start -- --no-demo to skip)`);
  }
  if (stopping) await new Promise(() => {});

  printWelcome(stack.gatewayUrl, config.jwtSecret, usesDevSecret(config));
} catch (err) {
  if (!stopping) {
    console.error(`\nUIT-Go could not start: ${err instanceof Error ? err.message : String(err)}`);
    drivers?.stop();
    await stack?.stop();
    process.exit(1);
  }
}

function printWelcome(url: string, secret: string, devSecret: boolean): void {
  const rider = signToken(secret, { id: "demo-rider", role: "rider" }, 24 * 3600);
  const auth = `-H 'Authorization: Bearer ${rider}'`;
  // Ben Thanh Market to Landmark 81, Ho Chi Minh City.
  const booking = JSON.stringify({
    originText: "Ben Thanh Market",
    destText: "Landmark 81",
    serviceId: "car",
    originLat: 10.7725,
    originLng: 106.698,
    destLat: 10.795,
    destLng: 106.7218,
  });
  const lines = ["", `UIT-Go is running. Send requests to ${url}`, ""];
  if (devSecret) {
    lines.push(
      `JWT_SECRET is not set: tokens are signed with the development secret "${DEV_JWT_SECRET}".`,
      "Mint more with: npm run -s token -- rider alice   (or: driver bob, --ttl <seconds>)",
      "",
    );
  } else {
    lines.push("Tokens are signed with $JWT_SECRET. Mint more with: npm run -s token -- rider alice", "");
  }
  lines.push(
    "Book a trip in Ho Chi Minh City (the rider token below is valid for 24 h):",
    `  curl -si ${url}/v1/trips ${auth} -H 'Content-Type: application/json' -d '${booking}'`,
    "",
    "Poll it (put the id from the answer, or its Location header, in place of TRIP_ID):",
    `  curl -s ${url}/v1/trips/TRIP_ID ${auth}`,
    "",
    "Search for available drivers near Ben Thanh Market:",
    `  curl -s '${url}/v1/drivers/search?lat=10.7725&lng=106.698&radius=3000&limit=5' ${auth}`,
    "",
    "The home screen's promotions and latest news (the demo content):",
    `  curl -s ${url}/v1/promotions ${auth}`,
    `  curl -s '${url}/v1/news?limit=5' ${auth}`,
    "",
    "The same booking through the Knative host name (as k6 and curl reach Kourier on a kind cluster):",
    `  curl -si ${url}/v1/trips -H 'Host: create-trip.default.127.0.0.1.sslip.io' ${auth} -H 'Content-Type: application/json' -d '${booking}'`,
    "",
    "Follow the booking through every function (its trace, collected on this machine):",
    "  npm run -s trace -- TRIP_ID",
    "",
    `Logs: ${stack?.logDir ?? ".local/logs"}/<function>.log. Press Ctrl-C to stop.`,
  );
  console.log(lines.join("\n"));
}

// Preloaded with NODE_OPTIONS="--require bench/lib/cpu-profile.cjs" by `npm run bench -- --profile`: Node 20 does
// not take --cpu-prof from NODE_OPTIONS, so this runs V8's profiler through the inspector instead and writes
// <SERVICE_NAME>.cpuprofile into UITGO_CPU_PROFILE_DIR when the process exits.
const { Session } = require("node:inspector");
const { mkdirSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");

const dir = process.env.UITGO_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 500 });
  session.post("Profiler.start");
  // An in-process inspector session answers synchronously, so the profile is written before the exit completes.
  process.once("exit", () => {
    session.post("Profiler.stop", (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.env.SERVICE_NAME ?? process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}

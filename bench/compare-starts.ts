// Two builds of one function, cold-started in turn (spawn → readiness 200), as many rounds as asked: the
// before/after measure of a change to what a function loads at start-up. Alternating the two keeps a busy
// spell on a shared machine from favouring either.
//
//   node --import tsx bench/compare-starts.ts <before.mjs> <after.mjs> [--runs 21]
//
// Needs the stores of a bench run (npm run bench provisions them), and NATS on NATS_URL or 4222.
import { parseArgs } from "node:util";
import { measureColdStarts } from "./lib/cold-start";
import { standaloneEnv } from "./lib/environment";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: "string", default: "21" } } });
const [before, after] = positionals;
if (!before || !after) {
  console.error("usage: node --import tsx bench/compare-starts.ts <before.mjs> <after.mjs> [--runs 21]");
  process.exit(2);
}
const [a, b] = await measureColdStarts(
  [
    { name: "before", bundle: before },
    { name: "after", bundle: after },
  ],
  standaloneEnv(),
  Number(values.runs),
);
for (const start of [a!, b!]) {
  console.log(
    `${start.name}: median ${start.readyMs} ms (${start.readyMsRange[0]}–${start.readyMsRange[1]}), ${start.rssMb} MB, bundle ${start.bundleKiB} KiB`,
  );
}
console.log(`after ÷ before, median over ${values.runs} rounds: ${b!.vsReference}`);

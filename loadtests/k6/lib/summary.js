/** Every script reports these for each trend; k6's default leaves out p(99), which the SLAs are written in. */
export const TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"];

// handleSummary for every script: the end-of-test summary as JSON under loadtests/results/ (run k6 from the
// repository root), which bench/report.ts turns into charts, and a short verdict on stdout.
export function summaryWriter(name) {
  return function handleSummary(data) {
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const verdicts = [];
    for (const [metric, info] of Object.entries(data.metrics)) {
      for (const [threshold, result] of Object.entries(info.thresholds || {})) {
        verdicts.push(`${result.ok ? "ok    " : "FAILED"} ${metric}: ${threshold}`);
      }
    }
    return {
      [`loadtests/results/${name}-${stamp}.json`]: JSON.stringify({ script: name, ...data }, null, 2),
      stdout: `\n${name}: ${verdicts.length} thresholds\n${verdicts.join("\n")}\n`,
    };
  };
}

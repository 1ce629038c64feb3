// Stands in for @opentelemetry/api in the bundles (esbuild.config.ts). prom-client's CPU metric loads it at
// start-up only to label exemplars with the active trace; UIT-Go enables no exemplars and has no tracer, so
// the 21 KB API (and its global registration) would be compiled and run at every cold start for nothing.
function unavailable(): never {
  throw new Error("OpenTelemetry is not included in the UIT-Go bundles (metric exemplars are not enabled)");
}

export const trace = { getSpan: unavailable };
export const context = { active: unavailable };

// The few PromQL shapes the dashboards repeat, so each panel states what it shows rather than how a
// quantile over a histogram is spelled. Every expression they build is parsed by Prometheus' own grammar
// in tests/deploy/monitoring.test.ts.

type MatchOp = "=" | "!=" | "=~" | "!~";
export type Matchers = Readonly<Record<string, string | readonly [MatchOp, string]>>;

/** A regular-expression matcher: `{ status: re("5..") }`. */
export const re = (pattern: string) => ["=~", pattern] as const;
/** A negated regular-expression matcher. */
export const notRe = (pattern: string) => ["!~", pattern] as const;

/** Grafana's step-aware range: at least four scrapes, so a rate never spans a single sample. */
export const RATE_WINDOW = "$__rate_interval";

/** `metric{label="value", ...}`; values are quoted as PromQL string literals. */
export function series(metric: string, matchers: Matchers = {}): string {
  const parts = Object.entries(matchers).map(([label, value]) => {
    const [op, text] = typeof value === "string" ? ["=", value] : value;
    return `${label}${op}${JSON.stringify(text)}`;
  });
  return parts.length > 0 ? `${metric}{${parts.join(", ")}}` : metric;
}

export function rate(metric: string, matchers: Matchers = {}): string {
  return `rate(${series(metric, matchers)}[${RATE_WINDOW}])`;
}

/** How much a counter grew over a fixed window: for rare events, where a count reads better than a rate. */
export function increase(metric: string, window: string, matchers: Matchers = {}): string {
  return `increase(${series(metric, matchers)}[${window}])`;
}

export function sumBy(labels: readonly string[], expr: string): string {
  return `sum by (${labels.join(", ")}) (${expr})`;
}

export function maxBy(labels: readonly string[], expr: string): string {
  return `max by (${labels.join(", ")}) (${expr})`;
}

/** The q-quantile of a histogram (its `_bucket` series), one line per value of `by`. */
export function quantile(q: number, bucket: string, by: readonly string[], matchers: Matchers = {}): string {
  return `histogram_quantile(${q}, ${sumBy(["le", ...by], rate(bucket, matchers))})`;
}

/** Grafana's multi-value variable as a regular expression: matches every selected value (all of them for "All"). */
export function variable(name: string): readonly ["=~", string] {
  return re(`$${name}`);
}

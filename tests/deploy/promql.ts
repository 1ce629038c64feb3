// PromQL as Prometheus' own grammar reads it (@prometheus-io/lezer-promql, the parser of Prometheus' web
// UI): syntax errors, and which metrics, label matchers and grouping labels an expression uses.
import { parser } from "@prometheus-io/lezer-promql";

type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

export interface Matcher {
  label: string;
  op: string;
  value: string;
}

export interface Selector {
  /** Undefined for a selector that names no metric (`{__name__=~"..."}`). */
  metric: string | undefined;
  matchers: Matcher[];
}

export interface Aggregation {
  /** The labels of `by (...)`; `without` is reported as no labels. */
  by: string[];
  /** Every metric the aggregated expression reads. */
  metrics: string[];
}

export interface Analysis {
  /** The text around each place the grammar could not read. */
  errors: string[];
  selectors: Selector[];
  aggregations: Aggregation[];
}

/** Grafana's interval variables, which stand where PromQL takes a duration; the grammar needs a real one. */
export const GRAFANA_INTERVALS = /\$__(rate_interval|interval|range)\b/g;

export function analyze(expr: string): Analysis {
  const text = expr.replace(GRAFANA_INTERVALS, "5m");
  const tree = parser.parse(text);
  const errors: string[] = [];
  const selectors: Selector[] = [];
  const aggregations: Aggregation[] = [];
  const source = (node: SyntaxNode) => text.slice(node.from, node.to);

  tree.iterate({
    enter(ref) {
      if (ref.type.isError) errors.push(`"${text.slice(Math.max(0, ref.from - 20), ref.to + 20)}" at ${ref.from}`);
      if (ref.name === "VectorSelector") selectors.push(selector(ref.node, source));
      if (ref.name === "AggregateExpr") {
        const modifier = ref.node.getChild("AggregateModifier");
        const by = modifier?.getChild("By") ? (modifier.getChild("GroupingLabels")?.getChildren("LabelName").map(source) ?? []) : [];
        const metrics = descendants(ref.node, "VectorSelector").flatMap((s) => s.getChildren("Identifier").map(source));
        aggregations.push({ by, metrics });
      }
    },
  });
  return { errors, selectors, aggregations };
}

function selector(node: SyntaxNode, source: (node: SyntaxNode) => string): Selector {
  const identifier = node.getChild("Identifier");
  const matchers = (node.getChild("LabelMatchers")?.getChildren("UnquotedLabelMatcher") ?? []).map((m) => ({
    label: source(m.getChild("LabelName")!),
    op: source(m.getChild("MatchOp")!),
    value: JSON.parse(source(m.getChild("StringLiteral")!)) as string,
  }));
  return { metric: identifier ? source(identifier) : undefined, matchers };
}

function descendants(node: SyntaxNode, name: string): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.name === name) found.push(child);
    found.push(...descendants(child, name));
  }
  return found;
}

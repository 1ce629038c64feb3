// `npm run -s trace -- <tripId>`: a booking's trace, from the local stack's trace collector (local/traces.ts), as a
// waterfall: every span in causal order, indented under its parent, with its service, its start offset from the
// trace's first span, its duration, and a bar. The trace is the one whose spans carry uitgo.trip.id = <tripId>.
//
//   npm run -s trace -- vn_0193…          UITGO_TRACES_URL=http://127.0.0.1:8090 npm run -s trace -- vn_0193…
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UITGO } from "../shared/telemetry/tracing";
import type { ReceivedSpan } from "./traces";

/** Where the local stack writes its collector's address (beside its logs folder). */
export function tracesUrlFile(logDir: string): string {
  return join(logDir, "..", "traces-url");
}

/** The traces that name the trip, oldest first. */
export async function tripTraces(receiverUrl: string, tripId: string): Promise<ReceivedSpan[][]> {
  const query = new URLSearchParams({ attribute: UITGO.tripId, value: tripId });
  const response = await fetch(`${receiverUrl}/v1/traces?${query}`);
  if (!response.ok) throw new Error(`the trace collector answered ${response.status}`);
  return (await response.json()) as ReceivedSpan[][];
}

/** The spans depth first from the roots (a span whose parent is not in the trace is a root), each level by start time. */
export function causalOrder(spans: readonly ReceivedSpan[]): { span: ReceivedSpan; depth: number }[] {
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map<string | undefined, ReceivedSpan[]>();
  for (const span of spans) {
    const parent = span.parentSpanId && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const ordered: { span: ReceivedSpan; depth: number }[] = [];
  const visit = (parent: string | undefined, depth: number) => {
    for (const span of (children.get(parent) ?? []).sort((a, b) => a.startMs - b.startMs)) {
      ordered.push({ span, depth });
      visit(span.spanId, depth + 1);
    }
  };
  visit(undefined, 0);
  return ordered;
}

const BAR_WIDTH = 40;

export function waterfall(spans: readonly ReceivedSpan[]): string {
  if (spans.length === 0) return "no spans";
  const start = Math.min(...spans.map((span) => span.startMs));
  const total = Math.max(...spans.map((span) => span.endMs)) - start || 1;
  const rows = causalOrder(spans);
  const serviceWidth = Math.max(7, ...spans.map((span) => span.service.length));
  const ms = (value: number) => `${value.toFixed(1)} ms`.padStart(10);
  const lines = [
    `trace ${spans[0]!.traceId}: ${spans.length} spans over ${total.toFixed(1)} ms`,
    `${"start".padStart(10)} ${"duration".padStart(10)}  ${"service".padEnd(serviceWidth)}  span`,
  ];
  for (const { span, depth } of rows) {
    const offset = span.startMs - start;
    const from = Math.floor((offset / total) * BAR_WIDTH);
    const width = Math.max(1, Math.round(((span.endMs - span.startMs) / total) * BAR_WIDTH));
    const bar = `${" ".repeat(from)}${"█".repeat(Math.min(width, BAR_WIDTH - from))}`.padEnd(BAR_WIDTH);
    const error = span.statusCode === 2 ? "  ✗" : "";
    lines.push(
      `${ms(offset)} ${ms(span.endMs - span.startMs)}  ${span.service.padEnd(serviceWidth)}  |${bar}|  ${"  ".repeat(depth)}${span.name}${error}`,
    );
  }
  return lines.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const tripId = process.argv[2];
  if (!tripId) {
    console.error("usage: npm run -s trace -- <tripId>");
    process.exit(2);
  }
  const file = tracesUrlFile(join(fileURLToPath(new URL("..", import.meta.url)), ".local", "logs"));
  const url = process.env.UITGO_TRACES_URL ?? (existsSync(file) ? readFileSync(file, "utf8").trim() : undefined);
  if (!url) {
    console.error("No trace collector known: start the local stack (npm start), or set UITGO_TRACES_URL");
    process.exit(1);
  }
  try {
    const traces = await tripTraces(url, tripId);
    if (traces.length === 0) {
      console.error(`No trace names trip ${tripId} (yet: spans reach ${url} within a second of their end)`);
      process.exit(1);
    }
    console.log(traces.map(waterfall).join("\n\n"));
  } catch (err) {
    console.error(`Could not read the traces from ${url}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}

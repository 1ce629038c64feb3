// One JSON line per event, the format Knative's log collectors expect. A line written while a request or a delivery
// is traced carries its trace_id and span_id, so a log search and a trace find each other.
//
// Lines to stdout are written once per turn of the event loop, together: stdout is a pipe or a file, written
// synchronously, and one write per access line cost the bare HTTP bootstrap about a third of its requests per second
// (docs/performance.md, "Tracing and logs"). Errors go to stderr at once; what is pending is written on exit.
import { LOG_LEVELS, logLevelOf, type LogLevel } from "./config";
import { activeSpanContext } from "./telemetry/tracing";

const threshold = LOG_LEVELS.indexOf(logLevelOf());
let pending: string[] = [];

/** Whether lines of this level are written (LOG_LEVEL): callers skip building a line nobody will see. */
export function logs(level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= threshold;
}

/** `fields` may name trace_id itself (the access line does while tracing is off, from the request's traceparent). */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (!logs(level)) return;
  const span = activeSpanContext();
  const ids = span && { trace_id: span.traceId, span_id: span.spanId };
  const line = JSON.stringify({ level, time: new Date().toISOString(), msg, ...ids, ...fields });
  if (level === "error") {
    flush();
    logWriter.error(line);
    return;
  }
  if (pending.length === 0) setImmediate(flush);
  pending.push(line);
}

/** Where lines go: stdout and stderr, unless a test looks at them. */
export const logWriter = {
  out: (text: string) => void process.stdout.write(text),
  error: (line: string) => console.error(line),
};

function flush(): void {
  if (pending.length === 0) return;
  const lines = pending;
  pending = [];
  logWriter.out(`${lines.join("\n")}\n`);
}

process.on("exit", flush);

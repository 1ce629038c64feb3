// One JSON line per event, the format Knative's log collectors expect. A line written while a request or a delivery
// is traced carries its trace_id and span_id, so a log search and a trace find each other.
import { LOG_LEVELS, logLevelOf, type LogLevel } from "./config";
import { activeSpanContext } from "./telemetry/tracing";

const threshold = LOG_LEVELS.indexOf(logLevelOf());

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
  if (level === "error") console.error(line);
  else console.log(line);
}

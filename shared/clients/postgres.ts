// PostgreSQL connection pools, one per shard database (and one per read replica).
import postgres from "postgres";
import { DependencyUnavailable } from "./dependency";
import type { DependencyHandle } from "./dependency";
import { dbSpan } from "../telemetry/tracing";

export type Sql = postgres.Sql;

/** The longest a connection waits before trying the server again, in seconds. */
const MAX_RECONNECT_DELAY_S = 0.5;

/**
 * Seconds before the next connection attempt after `failures` failed ones in a row (across the pool). postgres.js
 * grows this to 20 s by default, and a query sent meanwhile waits it out: a three-second outage could keep a
 * function refusing bookings for twenty seconds after the database came back.
 */
export function reconnectDelay(failures: number): number {
  return Math.min(0.01 * 2 ** failures, MAX_RECONNECT_DELAY_S) * (0.5 + Math.random() / 2);
}

/** How long the server lets one statement run before it cancels it (PostgreSQL's statement_timeout). */
function statementTimeoutMs(timeoutMs: number): number {
  return timeoutMs * 2;
}

/**
 * How long PostgreSQL work may go unanswered before the caller gets 503: past the statement_timeout the server
 * enforces, so it only fires when the server or the network has gone silent, which would otherwise hold a request
 * until TCP gives up, many minutes later.
 */
export function postgresDeadlineMs(timeoutMs: number): number {
  return statementTimeoutMs(timeoutMs) + timeoutMs;
}

/** A text[] in PostgreSQL's text form (`{a,"b c","d\\"e"}`): quoted elements escape `"` and `\` with a backslash. */
const textArray = {
  to: 1009,
  from: [1009],
  serialize: (items: readonly string[]) => `{${items.map((item) => `"${item.replace(/["\\]/g, "\\$&")}"`).join(",")}}`,
  parse(literal: string): (string | null)[] {
    const items: (string | null)[] = [];
    let i = 1; // past the opening brace
    while (i < literal.length - 1) {
      if (literal[i] === '"') {
        let item = "";
        for (i++; literal[i] !== '"'; i++) item += literal[i] === "\\" ? literal[++i] : literal[i];
        items.push(item);
        i += 2; // the closing quote and the comma (or brace) after it
      } else {
        const comma = literal.indexOf(",", i);
        const end = comma === -1 ? literal.length - 1 : comma;
        const item = literal.slice(i, end);
        items.push(item === "NULL" ? null : item);
        i = end + 1;
      }
    }
    return items;
  },
};

/** `maxConnections`: the pool's size; 10 unless a function that rarely reads needs fewer (infra/profiles.ts's budget). */
export function connectPostgres(url: string, applicationName: string, timeoutMs: number, maxConnections = 10): Sql {
  return postgres(url, {
    max: maxConnections,
    // postgres.js reads the catalog's array types on every new connection unless told not to, and drops that query's
    // promise: when the connection is lost during it and the reconnect is refused, the rejection reaches no handler
    // and Node ends the process (porsager/postgres#1192, #1205, #1223). The one array type the schema uses is parsed
    // above instead, and each new connection saves the round trip.
    fetch_types: false,
    types: { textArray },
    backoff: reconnectDelay,
    connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
    idle_timeout: 60,
    onnotice: () => {},
    connection: { application_name: applicationName, statement_timeout: statementTimeoutMs(timeoutMs) },
  });
}

export function postgresHandle(name: string, sql: Sql): DependencyHandle {
  return {
    name,
    ping: () => sql`select 1`,
    close: () => sql.end({ timeout: 5 }),
  };
}

// SQLSTATE classes that mean the server is unreachable, shutting down or overloaded, not that the query is wrong.
const UNAVAILABLE_SQLSTATE = /^(08|57P0|53300|57014)/;
// What postgres.js and Node's sockets report when no server answers.
const UNAVAILABLE_CODES = new Set([
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);

export function isUnavailable(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return UNAVAILABLE_SQLSTATE.test(err.code);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && UNAVAILABLE_CODES.has(code);
}

/**
 * Runs PostgreSQL work, turning "no server" into DependencyUnavailable, as is "no answer within deadlineMs". Work
 * past its deadline may still complete later: callers already treat a 503 as "retry", and their writes are
 * idempotent or undone on retry, as they must be for a connection lost after a commit.
 */
export function onPostgres<T>(operation: () => Promise<T>, deadlineMs: number, query?: TracedQuery): Promise<T> {
  if (!query) return withinDeadline(operation, deadlineMs);
  return dbSpan("postgresql", query.summary, query.sql.options.database, () => withinDeadline(operation, deadlineMs));
}

/** What a traced call names: its query summary (e.g. "UPDATE trips") and the database it runs on. */
export interface TracedQuery {
  summary: string;
  sql: Sql;
}

async function withinDeadline<T>(operation: () => Promise<T>, deadlineMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DependencyUnavailable("postgres", new Error(`no answer within ${deadlineMs} ms`))), deadlineMs);
  });
  try {
    return await Promise.race([operation(), silence]);
  } catch (err) {
    throw isUnavailable(err) ? new DependencyUnavailable("postgres", err) : err;
  } finally {
    clearTimeout(timer);
  }
}

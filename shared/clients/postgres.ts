// PostgreSQL connection pools, one per shard database (and one per read replica).
import postgres from "postgres";
import { DependencyUnavailable } from "../http/errors";
import type { DependencyHandle } from "../http/server";

export type Sql = postgres.Sql;

export function connectPostgres(url: string, applicationName: string, timeoutMs: number): Sql {
  return postgres(url, {
    max: 10,
    connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
    idle_timeout: 60,
    onnotice: () => {},
    connection: { application_name: applicationName, statement_timeout: timeoutMs * 2 },
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

export async function onPostgres<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw isUnavailable(err) ? new DependencyUnavailable("postgres", err) : err;
  }
}

// What a function depends on, as its health checks and its 503s see it: one handle per store or broker.

export type Dependency = "postgres" | "redis" | "nats";

export interface DependencyHandle {
  name: string;
  /** Reported by readiness, but not needed for it: the function works on without it (a rate limiter's store). */
  optional?: boolean;
  ping(): Promise<unknown>;
  close(): Promise<unknown>;
}

/** A store or broker that did not answer in time: answered 503 with Retry-After. */
export class DependencyUnavailable extends Error {
  constructor(
    readonly dependency: Dependency,
    cause: unknown,
  ) {
    super(`${dependency} is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

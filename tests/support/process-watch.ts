// A fault test must fail the moment a process it manages dies on its own, not 45 s later when some trip never
// leaves `requested`: the watch turns the first unexpected exit into an error that names the process and shows
// the last lines of its log, and `guard` makes the test's work fail with it at once.
import { cpSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, onTestFailed } from "vitest";
import type { ExitWatch } from "../../harness/processes";

export class ProcessWatch implements ExitWatch {
  private failure: Error | undefined;
  private fail!: (err: Error) => void;
  private readonly failed = new Promise<never>((_, reject) => (this.fail = reject));

  constructor() {
    // Observed through guard() and check(); a watch that sees no crash is never awaited.
    this.failed.catch(() => undefined);
  }

  /** Called when a process exits without having been asked to. */
  exited(name: string, how: string, logTail: string): void {
    if (this.failure) return;
    this.failure = new Error(`${name} exited unexpectedly (${how}). Last lines of its log:\n${logTail}`);
    this.fail(this.failure);
  }

  /** The work's result, or the first unexpected exit if one comes before it. */
  guard<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.failed]);
  }

  /** Throws the first unexpected exit, if there was one. */
  check(): void {
    if (this.failure) throw this.failure;
  }
}

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The log folder of a stack a whole test file shares (`.local/test-logs/<file>`), started before its tests. */
export function fileLogDir(): string {
  const dir = join(root, ".local", "test-logs", basename(expect.getState().testPath ?? "unknown", ".ts"));
  mkdirSync(dir, { recursive: true });
  return dir;
}

const opened = new Set<string>();

/**
 * A log folder of the running test's own (`.local/test-logs/<file>/<test>`), so a later test never overwrites its
 * logs; when the test fails, the folder is also copied to `.local/test-logs/failed/<time>-<file>-<test>`, so that
 * the next run of the same test does not overwrite the logs that explain the failure either.
 */
export function testLogDir(): string {
  const { testPath, currentTestName } = expect.getState();
  const slug = (currentTestName ?? "setup")
    .replace(/[^a-z0-9]+/gi, "-")
    .replace(/^-|-$/g, "")
    .toLowerCase();
  const file = basename(testPath ?? "unknown", ".ts");
  const dir = join(root, ".local", "test-logs", file, slug);
  mkdirSync(dir, { recursive: true });
  if (!opened.has(dir)) {
    opened.add(dir);
    onTestFailed(() => {
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      cpSync(dir, join(root, ".local", "test-logs", "failed", `${stamp}-${file}-${slug}`), { recursive: true });
    });
  }
  return dir;
}

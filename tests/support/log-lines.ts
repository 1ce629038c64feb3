// The JSON log lines a piece of work writes (shared/log.ts), caught instead of printed.
import { vi } from "vitest";
import { logWriter } from "../../shared/log";

/** The JSON lines written while `work` runs, stdout's and stderr's. */
export async function linesOf(work: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const written: string[] = [];
  const out = vi.spyOn(logWriter, "out").mockImplementation((text: string) => void written.push(...text.trimEnd().split("\n")));
  const err = vi.spyOn(logWriter, "error").mockImplementation((line: string) => void written.push(line));
  try {
    await work();
    // Lines to stdout are written at the end of the turn.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return written.map((line) => JSON.parse(line) as Record<string, unknown>);
}

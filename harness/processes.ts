// Starts a bundle from dist/ as its own process, the way Knative runs it.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";

/** Whoever is to hear of a process that exits on its own (the suite's ProcessWatch). */
export interface ExitWatch {
  exited(name: string, how: string, logTail: string): void;
}

export interface BundleOptions {
  /** The Node binary to run it with: this process's own unless given. */
  node?: string;
  /** Told if the process exits before stop() is called. */
  watch?: ExitWatch;
  /** A file that gets everything the process prints, as it prints it. */
  logFile?: string;
}

export interface BundleProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startBundle(
  bundle: string,
  env: Record<string, string>,
  { node = process.execPath, watch, logFile }: BundleOptions = {},
): BundleProcess {
  const child = spawn(node, [bundle], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let stopping = false;
  if (logFile) writeFileSync(logFile, "");
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (logFile) appendFileSync(logFile, chunk);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once("close", (code, signal) => {
      const name = env.SERVICE_NAME ?? bundle;
      if (!stopping) watch?.exited(name, signal ?? `code ${code}`, output.trimEnd().split("\n").slice(-20).join("\n"));
      resolve(code);
    }),
  );
  return {
    child,
    output: () => output,
    exited,
    stop: async (signal = "SIGTERM") => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** Whether a port can be listened on at 127.0.0.1 now. */
export function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function waitFor<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function waitUntilReady(port: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health/readiness`)).ok, timeoutMs, `readiness on port ${port}`);
}

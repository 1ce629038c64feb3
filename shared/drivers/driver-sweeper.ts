// Drivers who stop reporting leave the geo-index within about one interval of going silent, even when no
// search or report comes near them: a city at night, or every driver after a mobile-network blip. Every
// process that serves the index runs one; runs in several pods only repeat work that is then already done.
import type { Config } from "../config";
import { log } from "../log";
import { REGIONS } from "../regions";
import type { DriverIndex } from "./driver-index";

/** driverSweepIntervalMs: time between the end of one run and the start of the next (0: off); driverSweepBatch: drivers per Lua run. */
export type SweepOptions = Pick<Config, "driverSweepIntervalMs" | "driverSweepBatch" | "serviceName">;

// A run stops after this many full batches per region, so one run's share of Redis stays bounded however many
// drivers went silent at once; the next run goes on where it stopped.
const MAX_BATCHES_PER_RUN = 20;

export interface Sweeper {
  /** One run over every region; the drivers taken out. */
  runOnce(): Promise<number>;
  stop(): void;
}

export function sweepSilentDrivers(index: DriverIndex, options: SweepOptions): Sweeper {
  const { driverSweepIntervalMs: intervalMs, driverSweepBatch: batch, serviceName } = options;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failing = false;

  const runOnce = async () => {
    let taken = 0;
    for (const region of REGIONS) {
      for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
        const n = await index.sweep(region, batch);
        taken += n;
        if (n < batch) break;
      }
    }
    return taken;
  };

  const tick = async () => {
    try {
      await runOnce();
      if (failing) log("info", "driver sweep recovered", { service: serviceName });
      failing = false;
    } catch (err) {
      // Redis down is reported by readiness; one line when sweeping starts failing, not one per interval.
      if (!failing) log("warn", "driver sweep failed", { service: serviceName, error: err instanceof Error ? err.message : String(err) });
      failing = true;
    }
    if (!stopped) schedule();
  };
  const schedule = () => {
    timer = setTimeout(() => void tick(), intervalMs);
    // Sweeping never keeps a draining process alive.
    timer.unref();
  };

  if (intervalMs > 0) schedule();
  return {
    runOnce,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

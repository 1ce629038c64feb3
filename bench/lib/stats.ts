// Latency samples → the figures the bench reports: exact percentiles (no histogram buckets), and the same
// per second for the charts.

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export interface Second {
  /** Seconds since the measured window began. */
  t: number;
  requests: number;
  errors: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** Unexpected statuses and transport errors, by what happened (`503`, `ECONNRESET` …). */
  errorKinds: Record<string, number>;
  seconds: number;
  throughput: number;
  /** Milliseconds, each from when the request was due (open model) or began (closed). */
  latency: Percentiles;
  /**
   * Milliseconds, each from when the request was written to its answer: what k6's http_req_duration measures, which
   * leaves out the time a request waited for its client. Held against the k6 scripts' thresholds.
   */
  sendToAnswer?: Percentiles;
  timeline: Second[];
}

export function percentiles(samples: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  if (sorted.length === 0) return { p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    p50: at(sorted, 0.5),
    p95: at(sorted, 0.95),
    p99: at(sorted, 0.99),
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
  };
}

function at(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]!;
}

/** Collects one run's samples; `start` is when the measured window begins (warm-up excluded by the caller). */
export class Recorder {
  private readonly latencies: number[] = [];
  private readonly sendToAnswer: number[] = [];
  private readonly secondsOf: number[][] = [];
  private readonly errorsOf: number[] = [];
  private readonly errorKinds: Record<string, number> = {};
  private errors = 0;

  constructor(private readonly start: number) {}

  /** `at` is when the request completed, on the same clock as `start`; `sendToAnswerMs` leaves out its wait to be sent. */
  ok(at: number, latencyMs: number, sendToAnswerMs?: number): void {
    this.latencies.push(latencyMs);
    if (sendToAnswerMs !== undefined) this.sendToAnswer.push(sendToAnswerMs);
    this.bucket(at).push(latencyMs);
  }

  error(at: number, kind: string): void {
    this.errors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
    const second = Math.max(0, Math.floor((at - this.start) / 1000));
    this.errorsOf[second] = (this.errorsOf[second] ?? 0) + 1;
  }

  result(seconds: number): LoadResult {
    const timeline: Second[] = [];
    const length = Math.max(this.secondsOf.length, this.errorsOf.length);
    for (let t = 0; t < length; t++) {
      const samples = this.secondsOf[t] ?? [];
      const { p50, p95, p99 } = percentiles(samples);
      timeline.push({ t, requests: samples.length, errors: this.errorsOf[t] ?? 0, p50: round(p50), p95: round(p95), p99: round(p99) });
    }
    const latency = rounded(percentiles(this.latencies));
    return {
      requests: this.latencies.length,
      errors: this.errors,
      errorKinds: this.errorKinds,
      seconds: round(seconds),
      throughput: Math.round(this.latencies.length / seconds),
      latency,
      ...(this.sendToAnswer.length > 0 && { sendToAnswer: rounded(percentiles(this.sendToAnswer)) }),
      timeline,
    };
  }

  private bucket(at: number): number[] {
    const second = Math.max(0, Math.floor((at - this.start) / 1000));
    return (this.secondsOf[second] ??= []);
  }
}

function rounded({ p50, p95, p99, max, mean }: Percentiles): Percentiles {
  return { p50: round(p50), p95: round(p95), p99: round(p99), max: round(max), mean: round(mean) };
}

export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

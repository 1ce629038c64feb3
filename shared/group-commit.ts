// Group commit: items submitted close together are written by one call, and each submitter hears back only
// once the write that carried its item is done. A batch is written when it is full, or when its first item has
// waited maxWaitMs, so a busy stream makes big batches and a quiet one still gets each item written promptly.

export interface GroupCommitOptions {
  /** Items per write at most. */
  maxBatch: number;
  /**
   * How long the first item of a batch waits for others. 0 waits for nothing that is not already under way:
   * the batch takes what is submitted in the same turn of the event loop (requests that arrived together).
   */
  maxWaitMs: number;
  /**
   * Whether a failed write may be the fault of one of its items rather than of the store. Such a batch is
   * written again one item at a time, so that one bad item fails alone instead of failing everyone with it.
   */
  mayBeOneItem?: (err: unknown) => boolean;
}

/** Writes the items, answering one result per item, in order. */
export type BatchWriter<T, R> = (items: T[]) => Promise<R[]>;

interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T, R> {
  private batch: Waiting<T, R>[] = [];
  private timer: { cancel(): void } | undefined;
  private readonly writing = new Set<Promise<void>>();

  constructor(
    private readonly write: BatchWriter<T, R>,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.batch.push({ item, resolve, reject });
      if (this.batch.length >= this.options.maxBatch) this.flush();
      else this.timer ??= this.schedule();
    });
  }

  /** Writes what is waiting now and resolves once every write under way has finished. */
  async drain(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.writing]);
  }

  private flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    const writing = this.commit(batch);
    this.writing.add(writing);
    void writing.finally(() => this.writing.delete(writing));
  }

  private schedule(): { cancel(): void } {
    if (this.options.maxWaitMs === 0) {
      const immediate = setImmediate(() => this.flush());
      return { cancel: () => clearImmediate(immediate) };
    }
    const timeout = setTimeout(() => this.flush(), this.options.maxWaitMs);
    return { cancel: () => clearTimeout(timeout) };
  }

  private async commit(batch: Waiting<T, R>[]): Promise<void> {
    try {
      const results = await this.write(batch.map((waiting) => waiting.item));
      if (results.length !== batch.length) throw new Error(`the writer answered ${results.length} results for ${batch.length} items`);
      batch.forEach((waiting, i) => waiting.resolve(results[i]!));
    } catch (err) {
      if (batch.length > 1 && this.options.mayBeOneItem?.(err)) {
        await Promise.all(batch.map((waiting) => this.commit([waiting])));
        return;
      }
      for (const waiting of batch) waiting.reject(err);
    }
  }
}

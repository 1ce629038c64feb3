import { describe, expect, it } from "vitest";
import { GroupCommit } from "./group-commit";

/** A writer that records each batch it is given and answers each item doubled. */
function recorder(fail?: (items: number[]) => Error | undefined) {
  const batches: number[][] = [];
  const write = async (items: number[]) => {
    batches.push(items);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const err = fail?.(items);
    if (err) throw err;
    return items.map((n) => n * 2);
  };
  return { batches, write };
}

describe("GroupCommit", () => {
  it("writes items submitted together in one batch and answers each with its own result", async () => {
    const { batches, write } = recorder();
    const commit = new GroupCommit(write, { maxBatch: 100, maxWaitMs: 20 });

    const results = await Promise.all([1, 2, 3, 4].map((n) => commit.submit(n)));

    expect(results).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it("writes a full batch at once, without waiting", async () => {
    const { batches, write } = recorder();
    const commit = new GroupCommit(write, { maxBatch: 3, maxWaitMs: 60_000 });

    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => commit.submit(n)));

    expect(results).toEqual([2, 4, 6, 8, 10, 12]);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it("does not answer an item before the write that carries it is done", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const commit = new GroupCommit(
      async (items: number[]) => {
        await gate;
        return items;
      },
      { maxBatch: 10, maxWaitMs: 1 },
    );
    let answered = false;
    const pending = commit.submit(1).then(() => (answered = true));

    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(answered).toBe(false);
    release();
    await pending;
    expect(answered).toBe(true);
  });

  it("fails every item of a batch the store refused, when the fault cannot be one item's", async () => {
    const down = new Error("store down");
    const { batches, write } = recorder(() => down);
    const commit = new GroupCommit(write, { maxBatch: 10, maxWaitMs: 1, mayBeOneItem: (err) => err !== down });

    const results = await Promise.allSettled([1, 2, 3].map((n) => commit.submit(n)));

    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(batches).toHaveLength(1);
  });

  it("writes a refused batch again item by item, so one bad item fails alone", async () => {
    const { batches, write } = recorder((items) => (items.includes(13) ? new Error("13 is refused") : undefined));
    const commit = new GroupCommit(write, { maxBatch: 10, maxWaitMs: 1, mayBeOneItem: () => true });

    const results = await Promise.allSettled([12, 13, 14].map((n) => commit.submit(n)));

    expect(results).toEqual([
      { status: "fulfilled", value: 24 },
      { status: "rejected", reason: new Error("13 is refused") },
      { status: "fulfilled", value: 28 },
    ]);
    expect(batches).toEqual([[12, 13, 14], [12], [13], [14]]);
  });

  it("drain writes what is waiting and resolves when every write is done", async () => {
    const { batches, write } = recorder();
    const commit = new GroupCommit(write, { maxBatch: 10, maxWaitMs: 60_000 });
    const results = [commit.submit(1), commit.submit(2)];

    await commit.drain();

    expect(batches).toEqual([[1, 2]]);
    expect(await Promise.all(results)).toEqual([2, 4]);
  });

  it("with no wait, batches what is submitted in the same turn of the event loop and no more", async () => {
    const { batches, write } = recorder();
    const commit = new GroupCommit(write, { maxBatch: 100, maxWaitMs: 0 });

    const first = [1, 2, 3].map((n) => commit.submit(n));
    await new Promise((resolve) => setImmediate(resolve));
    const second = [4, 5].map((n) => commit.submit(n));

    expect(await Promise.all([...first, ...second])).toEqual([2, 4, 6, 8, 10]);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });
});

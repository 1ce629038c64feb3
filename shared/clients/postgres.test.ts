import { afterEach, describe, expect, it } from "vitest";
import { TcpProxy } from "../../harness/tcp-proxy";
import { TEST_ENV } from "../../tests/support/test-env";
import { DependencyUnavailable } from "./dependency";
import { connectPostgres, isUnavailable, onPostgres, type Sql } from "./postgres";

let proxy: TcpProxy | undefined;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let sql: Sql | undefined;

afterEach(async () => {
  await sql?.end({ timeout: 1 });
  await proxy?.cut();
  sql = proxy = undefined;
});

describe("connectPostgres", () => {
  it("is back within 1.5 s of the database returning, however many attempts failed meanwhile", async () => {
    proxy = await TcpProxy.start({ host: "127.0.0.1", port: 5432 });
    sql = connectPostgres(TEST_ENV.DATABASE_URL_VN.replace(":5432/", `:${proxy.port}/`), "postgres-test", 2_000);
    await Promise.all(Array.from({ length: 10 }, () => sql!`select pg_sleep(0.05)`));

    await proxy.cut();
    // Every pooled connection dropped, then attempt after attempt refused: the pool counts each as a failure.
    for (let i = 0; i < 12; i++) {
      const failure = await sql`select 1`.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isUnavailable(failure)).toBe(true);
    }

    await proxy.open();
    const started = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => sql!`select 1`));
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it("answers DependencyUnavailable when the server goes silent, by the deadline, and carries on once it speaks again", async () => {
    proxy = await TcpProxy.start({ host: "127.0.0.1", port: 5432 });
    sql = connectPostgres(TEST_ENV.DATABASE_URL_VN.replace(":5432/", `:${proxy.port}/`), "postgres-test", 2_000);
    await sql`select 1`;

    proxy.stall();
    const held = sql<{ n: number }[]>`select 7 as n`;
    const started = performance.now();
    const failure = await onPostgres(() => held, 300).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(DependencyUnavailable);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(performance.now() - started).toBeLessThan(1_000);

    proxy.resume();
    expect(await held).toEqual([{ n: 7 }]);
    expect(await onPostgres(() => sql!`select 8 as n`, 300)).toEqual([{ n: 8 }]);
  });
});

describe("a transaction whose connection is lost", () => {
  // postgres.js kept writing a lost transaction's statements (its own ROLLBACK included) to the closed socket, from a
  // timer, which ended the process (porsager/postgres#1208); patches/postgres+*.patch fails them instead.
  it("fails with a connection error, and nothing is thrown outside it", async () => {
    proxy = await TcpProxy.start({ host: "127.0.0.1", port: 5432 });
    sql = connectPostgres(TEST_ENV.DATABASE_URL_VN.replace(":5432/", `:${proxy.port}/`), "postgres-test", 2_000);
    const escaped: unknown[] = [];
    const record = (err: unknown) => escaped.push(err);
    process.on("uncaughtExceptionMonitor", record);
    try {
      const failure = await sql
        .begin(async (tx) => {
          await tx`select 1`;
          await proxy!.cut();
          await pause(100);
          await tx`select 2`;
        })
        .catch((err: unknown) => err);
      expect(isUnavailable(failure)).toBe(true);
      // The timer the writes went out on has run by now.
      await pause(200);
      expect(escaped).toEqual([]);

      // The pool carries on once the server is back.
      await proxy.open();
      expect(await sql<{ n: number }[]>`select 3 as n`).toEqual([{ n: 3 }]);
    } finally {
      process.off("uncaughtExceptionMonitor", record);
    }
  });
});

describe("text[] without the catalog's types", () => {
  it("reads and writes arrays PostgreSQL prints with quotes, escapes, commas and NULLs", async () => {
    sql = connectPostgres(TEST_ENV.DATABASE_URL_VN, "postgres-test", 2_000);
    const awkward = ["driver-1", "two words", 'say "hi"', "back\\slash", "a,b", "{braces}", "NULL", ""];
    const [row] = await sql<{ echoed: string[]; built: (string | null)[]; empty: string[] }[]>`
      select ${sql.typed(awkward, 1009)}::text[] as echoed,
             array['plain', null, 'x y']::text[] as built,
             '{}'::text[] as empty`;
    expect(row).toEqual({ echoed: awkward, built: ["plain", null, "x y"], empty: [] });
  });
});

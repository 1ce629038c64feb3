import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../tests/support/processes";
import { TcpProxy } from "../../tests/support/tcp-proxy";
import { TEST_ENV } from "../../tests/support/test-env";
import { connectPostgres, isUnavailable, type Sql } from "./postgres";

let proxy: TcpProxy | undefined;
let sql: Sql | undefined;

afterEach(async () => {
  await sql?.end({ timeout: 1 });
  await proxy?.cut();
  sql = proxy = undefined;
});

describe("connectPostgres", () => {
  it("is back within 1.5 s of the database returning, however many attempts failed meanwhile", async () => {
    proxy = new TcpProxy(await freePort(), { host: "127.0.0.1", port: 5432 });
    await proxy.open();
    sql = connectPostgres(TEST_ENV.DATABASE_URL_VN.replace(":5432/", `:${proxy.port}/`), "postgres-test", 2_000);
    await Promise.all(Array.from({ length: 10 }, () => sql!`select pg_sleep(0.05)`));

    await proxy.cut();
    // Every pooled connection dropped, then attempt after attempt refused: the pool counts each as a failure.
    for (let i = 0; i < 12; i++) {
      const failure = await sql`select 1`.then(() => undefined, (err: unknown) => err);
      expect(isUnavailable(failure)).toBe(true);
    }

    await proxy.open();
    const started = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => sql!`select 1`));
    expect(performance.now() - started).toBeLessThan(1_500);
  });
});

// The environment the suite runs in: its own shard databases and Redis database, beside a dev stack's.
// Vitest gives it to the test workers; the global setup applies it before provisioning from it.
// UITGO_TEST_* moves the suite onto other databases or another NATS server, so two suites (or a suite and a
// benchmark) can run on one machine without purging each other's streams.
const override = process.env;
const dbPrefix = override.UITGO_TEST_DB_PREFIX ?? "uitgo_test";

export { PORT_OFFSET as TEST_PORT_OFFSET } from "../../harness/port-offset";

export const TEST_ENV = {
  DATABASE_URL_VN: `postgres://postgres@127.0.0.1:5432/${dbPrefix}_vn`,
  DATABASE_URL_TH: `postgres://postgres@127.0.0.1:5432/${dbPrefix}_th`,
  REDIS_URL: override.UITGO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379/15",
  NATS_URL: override.UITGO_TEST_NATS_URL ?? "nats://127.0.0.1:4222",
  JWT_SECRET: "uitgo-test-secret",
};

// The environment the suite runs in: its own shard databases and Redis database, beside a dev stack's.
// Vitest gives it to the test workers; the global setup applies it before provisioning from it.
export const TEST_ENV = {
  DATABASE_URL_VN: "postgres://postgres@127.0.0.1:5432/uitgo_test_vn",
  DATABASE_URL_TH: "postgres://postgres@127.0.0.1:5432/uitgo_test_th",
  REDIS_URL: "redis://127.0.0.1:6379/15",
  NATS_URL: "nats://127.0.0.1:4222",
  JWT_SECRET: "uitgo-test-secret",
};

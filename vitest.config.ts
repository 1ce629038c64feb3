import { defineConfig } from "vitest/config";
import { TEST_ENV } from "./tests/support/test-env.ts";

// The suite talks to the real NATS, Redis and PostgreSQL on this machine. Test files share them,
// so they run one at a time; each file starts from a clean state (harness/state.ts).
export default defineConfig({
  test: {
    include: [
      "functions/**/*.test.ts",
      "shared/**/*.test.ts",
      "sources/**/*.test.ts",
      "local/**/*.test.ts",
      "tests/**/*.test.ts",
      "loadtests/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    globalSetup: ["tests/support/global-setup.ts"],
    setupFiles: ["tests/support/close-state.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: TEST_ENV,
  },
});

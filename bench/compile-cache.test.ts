// The compile cache is filled by importing a bundle without running it: if the bundle ran, an image build
// would need the stores, or hang on them.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundlePath } from "../esbuild.config";
import { fillCompileCache, hasCompileCache } from "./lib/compile-cache";

describe("filling the compile cache", () => {
  const dir = mkdtempSync(join(tmpdir(), "uitgo-compile-cache-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("compiles a function's and the source's bundle and exits at once, before either runs", () => {
    for (const bundle of [bundlePath("functions", "assign-driver"), bundlePath("sources", "jetstream")]) {
      const started = performance.now();
      expect(fillCompileCache(process.execPath, bundle, dir), "it printed something: it ran").toBe("");
      expect(performance.now() - started).toBeLessThan(5_000);
    }
    // Node 20 ignores NODE_COMPILE_CACHE; from 22.1 the cache is written as the process exits.
    if (hasCompileCache(process.execPath)) expect(readdirSync(dir)).not.toHaveLength(0);
  });
});

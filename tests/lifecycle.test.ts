// The Knative container contract: a function listens on $PORT and, on SIGTERM, stops taking new
// connections, finishes the request in flight, closes its clients and exits 0.
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { bundlePath } from "../esbuild.config";
import { token } from "./support/auth";
import { HCMC } from "../harness/places";
import { freePort, startBundle, waitUntilReady, type BundleProcess } from "../harness/processes";

let fn: BundleProcess | undefined;
afterEach(async () => {
  await fn?.stop("SIGKILL");
});

describe("SIGTERM", () => {
  it("drains the request in flight, refuses new connections, and exits 0", async () => {
    const port = await freePort();
    fn = startBundle(bundlePath("functions", "update-location"), { PORT: String(port), SERVICE_NAME: "update-location" });
    await waitUntilReady(port);

    // A request whose body is still arriving when the signal comes.
    const body = JSON.stringify({ lat: HCMC.lat, lng: HCMC.lng });
    const inFlight = request({
      port,
      method: "POST",
      path: "/v1/drivers/me/location",
      headers: { authorization: `Bearer ${token("driver", "d1")}`, "content-type": "application/json", "content-length": body.length },
    });
    const answered = new Promise<number>((resolve, reject) => {
      inFlight.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      inFlight.on("error", reject);
    });
    inFlight.write(body.slice(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 200));

    fn.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(fetch(`http://127.0.0.1:${port}/health/liveness`)).rejects.toThrow();

    inFlight.end(body.slice(10));
    expect(await answered).toBe(202);
    expect(await fn.exited).toBe(0);
    expect(fn.output()).toMatch(/"msg":"stopped"/);
  });
});
